import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { print, UsageError } from '../cli/output.js';
import { loadConfig } from '../config/config.js';
import { openConfiguredDatabase } from '../server/runtime.js';
import {
  checkKeyBackup,
  createEmbeddedBackup,
  exportKeyStore,
  keyBackupName,
  pruneKeyBackups,
  restoreEmbeddedBackup,
  restoreKeyStore,
} from './backup.js';

/**
 * `avow backup ...`: local commands beside the database (never over HTTP).
 * Embedded mode: stop `avow serve` first; the data folder belongs to one process.
 */
export function registerBackupCommands(program: Command): void {
  const group = program
    .command('backup')
    .description(
      'Backups that erasure reaches: data without keys, and a key-store backup that expires after the backup window',
    );

  group
    .command('create')
    .description(
      'Embedded: copy the database folder (without data keys) and write the key-store backup from the same copy. PostgreSQL: dump the data with pg_dump FIRST (see docs/retention.md), then run this to write the key-store backup, so every subject in the dump has its key',
    )
    .requiredOption('--out <dir>', 'folder to write the backups into')
    .option(
      '--window <duration>',
      'override the backup window (default: the shortest retention.backups.duration of the registers, else P1M)',
    )
    .option('--json', 'print JSON for scripts', false)
    .action(async (options: { out: string; window?: string; json: boolean }) => {
      const config = loadConfig();
      const now = new Date();
      const out = path.resolve(options.out);
      if (config.database.kind === 'pglite') {
        const pgliteDir = config.database.dataDir;
        // Holding the folder's lock proves no server is using it.
        const probe = await openConfiguredDatabase(config);
        await probe.close();
        const made = await createEmbeddedBackup({
          pgliteDir,
          outDir: out,
          now,
          ...(options.window ? { window: options.window } : {}),
        });
        print(
          options,
          {
            dataDir: made.dataDir,
            keyFile: made.keyFile,
            window: made.keys.window,
            keysExpireAt: made.keys.expiresAt,
          },
          () =>
            `Data backup (no data keys): ${made.dataDir}\nKey-store backup: ${made.keyFile} (window ${made.keys.window}; refused on restore from ${made.keys.expiresAt}; delete it then with \`avow backup prune\`)`,
        );
        return;
      }
      const database = await openConfiguredDatabase(config);
      try {
        const keys = await exportKeyStore(database.db, {
          now,
          ...(options.window ? { window: options.window } : {}),
        });
        const keyFile = path.join(out, keyBackupName(now));
        writeFileSync(keyFile, `${JSON.stringify(keys)}\n`, { mode: 0o600 });
        print(
          options,
          { keyFile, window: keys.window, keysExpireAt: keys.expiresAt },
          () =>
            `Key-store backup: ${keyFile} (window ${keys.window}, refused from ${keys.expiresAt}).\nIt goes with a data dump taken before it (pg_dump --format=custom --exclude-table-data=subject_keys --exclude-table-data=audit_actor_keys "$DATABASE_URL" > avow.dump); a dump taken after it may hold subjects it has no key for.`,
        );
      } finally {
        await database.close();
      }
    });

  group
    .command('restore')
    .description(
      'Embedded: replace the database with a data backup (the current folder is moved aside) and put back the keys if their backup is inside its window. PostgreSQL: after pg_restore, put back the keys',
    )
    .option('--data <dir>', 'embedded: the avow-data-... folder')
    .option(
      '--keys <file>',
      'the avow-keys-....json file; refused after its window. Without it every subject reads as erased',
    )
    .option(
      '--erase-subjects-without-key',
      'restore even when subjects in the data have no key in the key-store backup, treating them as erased (their data can never be read again); without it such a restore is refused',
      false,
    )
    .option('--json', 'print JSON for scripts', false)
    .action(
      async (options: {
        data?: string;
        keys?: string;
        eraseSubjectsWithoutKey: boolean;
        json: boolean;
      }) => {
        const config = loadConfig();
        const now = new Date();
        if (config.database.kind === 'pglite') {
          if (!options.data) throw new UsageError('--data <dir> is required in embedded mode');
          const probe = await openConfiguredDatabase(config);
          await probe.close();
          const done = await restoreEmbeddedBackup({
            dataBackupDir: path.resolve(options.data),
            keyFile: options.keys ? path.resolve(options.keys) : null,
            pgliteDir: config.database.dataDir,
            now,
            eraseSubjectsWithoutKey: options.eraseSubjectsWithoutKey,
          });
          print(
            options,
            done,
            () =>
              `Restored. ${done.keysRestored ? `${done.subjectKeys} data keys restored.${erasedNote(done.subjectsErased)}` : 'No keys restored: every subject reads as erased.'}${done.movedAside ? ` The previous database is in ${done.movedAside}.` : ''}`,
          );
          return;
        }
        if (!options.keys)
          throw new UsageError(
            '--keys <file> is required on PostgreSQL (restore the data with pg_restore first)',
          );
        const check = checkKeyBackup(readFileSync(path.resolve(options.keys), 'utf8'), now);
        if (!check.ok) throw new Error(check.reason);
        const database = await openConfiguredDatabase(config);
        try {
          const counts = await restoreKeyStore(database.db, check.backup, {
            now,
            eraseSubjectsWithoutKey: options.eraseSubjectsWithoutKey,
          });
          print(
            options,
            counts,
            () => `${counts.subjectKeys} data keys restored.${erasedNote(counts.subjectsErased)}`,
          );
        } finally {
          await database.close();
        }
      },
    );

  group
    .command('prune')
    .description('Delete key-store backups whose backup window has ended')
    .requiredOption('--dir <dir>', 'folder holding avow-keys-*.json files')
    .option('--json', 'print JSON for scripts', false)
    .action(async (options: { dir: string; json: boolean }) => {
      const removed = pruneKeyBackups(path.resolve(options.dir), new Date());
      print(options, { removed }, () =>
        removed.length
          ? `Deleted: ${removed.join(', ')}`
          : 'No key-store backup is past its window.',
      );
    });
}

const erasedNote = (count: number) =>
  count > 0 ? ` ${count} subject${count === 1 ? '' : 's'} without a key now read as erased.` : '';
