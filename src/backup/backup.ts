import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import { z } from 'zod';
import { type Database, type Db, openDatabase } from '../db/database.js';
import { addDuration, parseDuration } from '../register/duration.js';
import { registerSchema } from '../register/register-schema.js';
import { findActiveVersion } from '../register/register-store.js';

/**
 * Backups that erasure reaches. Data keys (subject_keys, audit_actor_keys) are
 * never in a data backup: they go to a separate key-store backup that carries
 * its creation time and expires after the backup window (the shortest
 * `retention.backups.duration` of the tenants' registers). A subject erased
 * after a backup has its key destroyed in the database at once; once every
 * key-store backup older than the erasure has expired (at most one window),
 * no key exists anywhere that opens that subject's data in any data backup.
 */
export const keyTables = ['subject_keys', 'audit_actor_keys'] as const;
export const defaultWindow = 'P1M';

const keyRow = z.object({
  tenantId: z.string(),
  id: z.string(),
  wrappedKey: z.string().nullable(),
  masterKeyVersion: z.number().int().nullable(),
  createdAt: z.string(),
  destroyedAt: z.string().nullable(),
});

export const keyBackupSchema = z.object({
  format: z.literal('avow.key-store-backup.v1'),
  createdAt: z.iso.datetime(),
  window: z.string(),
  expiresAt: z.iso.datetime(),
  subjectKeys: z.array(keyRow),
  auditActorKeys: z.array(keyRow),
});
export type KeyBackup = z.infer<typeof keyBackupSchema>;

/** The backup window: the shortest the tenants' active registers allow, or the default. */
export async function backupWindow(db: Db): Promise<string> {
  const tenants = await db.selectFrom('tenants').select('id').execute();
  let shortest: { text: string; end: number } | undefined;
  const from = new Date(Date.UTC(2000, 0, 31));
  for (const { id } of tenants) {
    const active = await findActiveVersion(db, id);
    if (!active) continue;
    const text = registerSchema.parse(active.register).retention.backups?.duration;
    const parsed = text ? parseDuration(text) : undefined;
    if (!text || !parsed) continue;
    const end = addDuration(from, parsed).getTime();
    if (!shortest || end < shortest.end) shortest = { text, end };
  }
  return shortest?.text ?? defaultWindow;
}

async function readKeys(db: Db, table: (typeof keyTables)[number]) {
  const idColumn = table === 'subject_keys' ? 'subject_id' : 'key_id';
  const rows = await sql<{
    tenant_id: string;
    id: string;
    wrapped_key: Uint8Array | null;
    master_key_version: number | null;
    created_at: Date;
    destroyed_at: Date | null;
  }>`
    select tenant_id, ${sql.ref(idColumn)} as id, wrapped_key, master_key_version, created_at, destroyed_at from ${sql.table(table)} order by tenant_id, ${sql.ref(idColumn)}`.execute(
    db.withoutPlugins(),
  );
  return rows.rows.map((r) => ({
    tenantId: r.tenant_id,
    id: r.id,
    // Wrapped under the master key, which is never part of any backup.
    wrappedKey: r.wrapped_key ? Buffer.from(r.wrapped_key).toString('base64') : null,
    masterKeyVersion: r.master_key_version,
    createdAt: new Date(r.created_at).toISOString(),
    destroyedAt: r.destroyed_at ? new Date(r.destroyed_at).toISOString() : null,
  }));
}

export async function exportKeyStore(
  db: Db,
  options: { now: Date; window?: string },
): Promise<KeyBackup> {
  const window = options.window ?? (await backupWindow(db));
  const parsed = parseDuration(window);
  if (!parsed)
    throw new Error(`The backup window ${window} is not an ISO 8601 duration such as P1M or P30D`);
  return {
    format: 'avow.key-store-backup.v1',
    createdAt: options.now.toISOString(),
    window,
    expiresAt: addDuration(options.now, parsed).toISOString(),
    subjectKeys: await readKeys(db, 'subject_keys'),
    auditActorKeys: await readKeys(db, 'audit_actor_keys'),
  };
}

export type KeyBackupCheck = { ok: true; backup: KeyBackup } | { ok: false; reason: string };

/** A key-store backup may come back only inside its window. */
export function checkKeyBackup(text: string, now: Date): KeyBackupCheck {
  let parsed: KeyBackup;
  try {
    parsed = keyBackupSchema.parse(JSON.parse(text));
  } catch {
    return { ok: false, reason: 'The file is not an Avow key-store backup' };
  }
  if (now.getTime() >= Date.parse(parsed.expiresAt)) {
    return {
      ok: false,
      reason: `The key-store backup of ${parsed.createdAt} is past its backup window (${parsed.window}, ended ${parsed.expiresAt}); keys of erased people must not come back. Delete it, or restore a newer one.`,
    };
  }
  return { ok: true, backup: parsed };
}

/**
 * The restored data has subjects the key-store backup holds no key for: it
 * was taken before the data backup, so those subjects were created in
 * between. Restoring would give them destroyed keys and shred them.
 */
export class SubjectsWithoutKey extends Error {
  constructor(readonly count: number) {
    super(
      `${count} subject${count === 1 ? '' : 's'} in the restored data ${count === 1 ? 'has' : 'have'} no key in the key-store backup (created after the keys were exported: take the key-store backup after the data backup it goes with). Nothing was changed. Restore a key-store backup taken after this data backup, or pass --erase-subjects-without-key to treat ${count === 1 ? 'it' : 'them'} as erased (their data can then never be read).`,
    );
  }
}

/**
 * Puts keys back after a data restore, in one transaction. Keys of tenants
 * the data does not have (created after the data backup) are left out.
 * Given a backup, a subject of the data without a key in it is refused
 * (SubjectsWithoutKey, nothing written) unless `eraseSubjectsWithoutKey`
 * says to give it a destroyed key; without a backup every subject gets one,
 * so its data reads as erased rather than being given a fresh key that opens
 * nothing.
 */
export async function restoreKeyStore(
  db: Db,
  backup: KeyBackup | null,
  options: { now: Date; eraseSubjectsWithoutKey?: boolean },
): Promise<{ subjectKeys: number; auditActorKeys: number; subjectsErased: number }> {
  return db.transaction().execute(async (tx) => {
    const raw = tx.withoutPlugins();
    for (const table of keyTables) await sql`delete from ${sql.table(table)}`.execute(raw);
    const insert = async (table: (typeof keyTables)[number], rows: KeyBackup['subjectKeys']) => {
      const idColumn = table === 'subject_keys' ? 'subject_id' : 'key_id';
      let inserted = 0;
      for (const r of rows) {
        // subject_keys references tenants: a tenant newer than the data has no row to key.
        const tenantCheck =
          table === 'subject_keys'
            ? sql`where exists (select 1 from tenants where id = ${r.tenantId})`
            : sql``;
        const result =
          await sql`insert into ${sql.table(table)} (tenant_id, ${sql.ref(idColumn)}, wrapped_key, master_key_version, created_at, destroyed_at)
          select ${r.tenantId}, ${r.id}, ${r.wrappedKey ? Buffer.from(r.wrappedKey, 'base64') : null}::bytea, ${r.masterKeyVersion}::integer, ${r.createdAt}::timestamptz, ${r.destroyedAt}::timestamptz ${tenantCheck}`.execute(
            raw,
          );
        inserted += Number(result.numAffectedRows ?? 0);
      }
      return inserted;
    };
    const subjectKeys = await insert('subject_keys', backup?.subjectKeys ?? []);
    const auditActorKeys = await insert('audit_actor_keys', backup?.auditActorKeys ?? []);
    const missing = await sql<{ count: number | string }>`
      select count(*) as count from subjects s
       where not exists (select 1 from subject_keys k where k.tenant_id = s.tenant_id and k.subject_id = s.id)`.execute(
      raw,
    );
    const subjectsErased = Number(missing.rows[0]?.count ?? 0);
    // Thrown inside the transaction: the keys deleted above come back.
    if (backup && subjectsErased > 0 && !options.eraseSubjectsWithoutKey)
      throw new SubjectsWithoutKey(subjectsErased);
    await sql`insert into subject_keys (tenant_id, subject_id, wrapped_key, master_key_version, destroyed_at)
      select tenant_id, id, null, null, ${options.now.toISOString()}::timestamptz from subjects
      on conflict (tenant_id, subject_id) do nothing`.execute(raw);
    return { subjectKeys, auditActorKeys, subjectsErased };
  });
}

export const keyBackupName = (now: Date) =>
  `avow-keys-${now.toISOString().replace(/[:.]/g, '-')}.json`;
export const dataBackupName = (now: Date) => `avow-data-${now.toISOString().replace(/[:.]/g, '-')}`;

/**
 * Embedded mode: a copy of the PGlite folder with the key tables emptied, and
 * beside it the key-store backup. The database must not be in use (the
 * caller holds its lock or it is closed).
 */
export async function createEmbeddedBackup(options: {
  pgliteDir: string;
  outDir: string;
  now: Date;
  window?: string;
  open?: (dir: string) => Promise<Database>;
}): Promise<{ dataDir: string; keyFile: string; keys: KeyBackup }> {
  const open = options.open ?? ((dir: string) => openDatabase({ kind: 'pglite', dataDir: dir }));
  mkdirSync(options.outDir, { recursive: true });
  const dataDir = path.join(options.outDir, dataBackupName(options.now));
  cpSync(options.pgliteDir, dataDir, { recursive: true });
  const copy = await open(dataDir);
  let keys: KeyBackup;
  let current: string | undefined;
  try {
    // The keys are read from the copy, before they are emptied from it: the
    // same snapshot as the data, so every subject of it has its key here.
    keys = await exportKeyStore(copy.db, {
      now: options.now,
      ...(options.window ? { window: options.window } : {}),
    });
    // TRUNCATE writes new, empty table files; the old ones (with the wrapped keys) are removed.
    await sql`truncate ${sql.join(keyTables.map((t) => sql.table(t)))}`.execute(copy.db);
    // The write-ahead log still holds the keys' old rows: start a new segment,
    // checkpoint past the old ones, and after a clean shutdown remove every
    // segment but the current one (recycled segments keep their old bytes).
    await sql`select pg_switch_wal()`.execute(copy.db);
    await sql`checkpoint`.execute(copy.db);
    current = (
      await sql<{ name: string }>`select pg_walfile_name(pg_current_wal_lsn()) as name`.execute(
        copy.db,
      )
    ).rows[0]?.name;
  } finally {
    await copy.close();
  }
  const wal = path.join(dataDir, 'pg_wal');
  if (current && existsSync(wal)) {
    for (const name of readdirSync(wal)) {
      if (/^[0-9A-F]{24}$/.test(name) && name !== current) rmSync(path.join(wal, name));
    }
  }
  writeFileSync(
    path.join(dataDir, 'avow-backup.json'),
    `${JSON.stringify({ format: 'avow.data-backup.v1', createdAt: options.now.toISOString(), keysIn: path.basename(keyBackupName(options.now)) }, null, 2)}\n`,
  );
  const keyFile = path.join(options.outDir, keyBackupName(options.now));
  writeFileSync(keyFile, `${JSON.stringify(keys)}\n`, { mode: 0o600 });
  return { dataDir, keyFile, keys };
}

/**
 * Replaces the embedded database with a data backup, and puts back the keys if
 * their backup is still inside its window. The backup is made ready in a
 * folder beside the database first; only once its keys are in does the
 * current folder move aside, so a refused restore leaves it as it was.
 */
export async function restoreEmbeddedBackup(options: {
  dataBackupDir: string;
  keyFile: string | null;
  pgliteDir: string;
  now: Date;
  eraseSubjectsWithoutKey?: boolean;
  open?: (dir: string) => Promise<Database>;
}): Promise<{
  movedAside: string | null;
  keysRestored: boolean;
  subjectKeys: number;
  subjectsErased: number;
}> {
  const open = options.open ?? ((dir: string) => openDatabase({ kind: 'pglite', dataDir: dir }));
  if (!existsSync(path.join(options.dataBackupDir, 'avow-backup.json'))) {
    throw new Error(`${options.dataBackupDir} is not an Avow data backup (no avow-backup.json)`);
  }
  let backup: KeyBackup | null = null;
  if (options.keyFile) {
    const check = checkKeyBackup(readFileSync(options.keyFile, 'utf8'), options.now);
    if (!check.ok) throw new KeyBackupRefused(check.reason);
    backup = check.backup;
  }
  const stamp = options.now.toISOString().replace(/[:.]/g, '-');
  const staging = `${options.pgliteDir}.restoring-${stamp}`;
  rmSync(staging, { recursive: true, force: true });
  cpSync(options.dataBackupDir, staging, { recursive: true });
  rmSync(path.join(staging, 'avow-backup.json'), { force: true });
  let counts: Awaited<ReturnType<typeof restoreKeyStore>>;
  try {
    const restored = await open(staging);
    try {
      counts = await restoreKeyStore(restored.db, backup, {
        now: options.now,
        ...(options.eraseSubjectsWithoutKey ? { eraseSubjectsWithoutKey: true } : {}),
      });
    } finally {
      await restored.close();
    }
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    throw error;
  }
  let movedAside: string | null = null;
  if (existsSync(options.pgliteDir) && readdirSync(options.pgliteDir).length > 0) {
    movedAside = `${options.pgliteDir}.before-restore-${stamp}`;
    renameSync(options.pgliteDir, movedAside);
  } else {
    rmSync(options.pgliteDir, { recursive: true, force: true });
  }
  renameSync(staging, options.pgliteDir);
  return {
    movedAside,
    keysRestored: backup !== null,
    subjectKeys: counts.subjectKeys,
    subjectsErased: counts.subjectsErased,
  };
}

export class KeyBackupRefused extends Error {}

/** Deletes key-store backups in a folder whose window has ended. */
export function pruneKeyBackups(dir: string, now: Date): string[] {
  const removed: string[] = [];
  for (const name of readdirSync(dir)) {
    if (!/^avow-keys-.*\.json$/.test(name)) continue;
    const file = path.join(dir, name);
    const check = checkKeyBackup(readFileSync(file, 'utf8'), now);
    if (!check.ok && check.reason.includes('past its backup window')) {
      rmSync(file);
      removed.push(file);
    }
  }
  return removed;
}
