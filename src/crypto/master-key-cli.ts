import path from 'node:path';
import type { Command } from 'commander';
import { print } from '../cli/output.js';
import { loadConfig } from '../config/config.js';
import { openConfiguredDatabase } from '../server/runtime.js';
import { addMasterKeyFile, loadInstallationKeys } from './installation-keys.js';
import { createKeyring } from './keyring.js';
import { keysByVersion, rotateMasterKey } from './master-key-rotation.js';

/**
 * `avow master-key ...`: runs beside the database, never over HTTP, because it
 * needs the master keys themselves. (`avow keys` is the API-key group.)
 */
export function registerMasterKeyCommands(program: Command): void {
  const group = program
    .command('master-key')
    .description(
      'Rotate the master key that wraps every data key (local: needs the keys and the database)',
    );

  group
    .command('rotate')
    .description(
      'Re-wrap every data key under the current master key. Embedded mode without key variables: creates the next key file first. ' +
        'With AVOW_MASTER_KEY: set the new key with a higher AVOW_MASTER_KEY_VERSION and the old one in AVOW_PREVIOUS_MASTER_KEYS.',
    )
    .option('--json', 'print JSON for scripts', false)
    .action(async (options: { json: boolean }) => {
      const config = loadConfig();
      let keys = loadInstallationKeys(config);
      let created: string | undefined;
      if (keys.files) {
        const next = keys.masterKeyVersion + 1;
        created = addMasterKeyFile(path.dirname(keys.files.masterKey), next).file;
        keys = loadInstallationKeys(config);
      }
      const keyring = createKeyring({
        masterKeys: [
          ...(keys.previousMasterKeys ?? []),
          { version: keys.masterKeyVersion, key: keys.masterKey },
        ],
        signingKey: keys.signingKey,
      });
      const database = await openConfiguredDatabase(config);
      try {
        const report = await rotateMasterKey(database.db, keyring);
        print(options, { ...report, createdKeyFile: created ?? null }, () =>
          [
            created
              ? `Created master key version ${report.currentVersion} in ${created} (back it up now).`
              : `Current master key version: ${report.currentVersion}.`,
            `Re-wrapped ${report.subjectKeysRewrapped} subject keys, ${report.actorKeysRewrapped} audit actor keys${report.indexKeyRewrapped ? ' and the blind index key' : ''}.`,
            `Live keys by master version: ${JSON.stringify(report.remainingByVersion)}. A version with none left can be retired.`,
          ].join('\n'),
        );
      } finally {
        await database.close();
      }
    });

  group
    .command('status')
    .description('How many live data keys each master key version wraps')
    .option('--json', 'print JSON for scripts', false)
    .action(async (options: { json: boolean }) => {
      const config = loadConfig();
      const keys = loadInstallationKeys(config);
      const database = await openConfiguredDatabase(config);
      try {
        const counts = await keysByVersion(database.db);
        print(
          options,
          { currentVersion: keys.masterKeyVersion, byVersion: counts },
          () =>
            `Current version ${keys.masterKeyVersion}; live keys by version: ${JSON.stringify(counts)}`,
        );
      } finally {
        await database.close();
      }
    });
}
