import type { Config } from '../config/config.js';
import { loadInstallationKeys } from '../crypto/installation-keys.js';
import { migrateToLatest } from '../db/migrate.js';
import { createAvow } from './app.js';
import { bootstrapInstallation } from './bootstrap.js';
import { createLogger, logDestination } from './logger.js';
import { openConfiguredDatabase } from './runtime.js';

/** `avow serve`: keys, database, migrations, first-start setup, then HTTP until SIGTERM. */
export async function serve(config: Config): Promise<void> {
  const logs = logDestination(1);
  const logger = createLogger(config.logLevel, logs);
  const keys = loadInstallationKeys(config);
  if (keys.source === 'generated' && keys.files) {
    logger.warn(
      { masterKey: keys.files.masterKey, signingKey: keys.files.signingKey },
      'created the installation keys in the data folder; back them up, and keep them apart from database backups',
    );
  }
  const database = await openConfiguredDatabase(config);
  logger.info({ database: database.kind }, 'database opened');

  if (config.migrateOnStart) {
    const outcome = await migrateToLatest(database.db);
    if (!outcome.ok) {
      await database.close();
      throw new Error(
        `Migration ${outcome.failed ?? '(unknown)'} failed; the schema is unchanged. Cause: ${String(outcome.error)}`,
      );
    }
    if (outcome.applied.length > 0) logger.info({ applied: outcome.applied }, 'migrations applied');
  }

  const { app, services } = await createAvow({
    database,
    keys,
    logger,
    publicUrl: config.publicUrl,
    trustProxy: config.trustProxy,
    apiKeyCacheSeconds: config.apiKeyCacheSeconds,
    worker: config.worker,
    mail: config.mail,
    // Running jobs get most of the 10 s shutdown below; one cut short is retried.
    jobs: { stopTimeoutSeconds: 8 },
  });

  const first = await bootstrapInstallation(database.db, services, { seedDemo: config.seedDemo });
  if (first.created) {
    // Printed once, outside the structured log: logs must never hold a secret.
    // The log lines so far come first, in the order they happened.
    logs.flushSync();
    process.stdout.write(
      [
        '',
        '  Avow is set up. This operator API key is shown once; keep it somewhere safe:',
        '',
        `    ${first.operatorToken}`,
        '',
        first.demoTenantId ? `  Demo tenant: ${first.demoTenantId}` : '',
        keys.files ? `  Installation keys: ${keys.files.masterKey}, ${keys.files.signingKey}` : '',
        `  Try: curl -H "Authorization: Bearer ${first.operatorToken.slice(0, 12)}..." ${config.publicUrl}/v1/tenants`,
        '',
        '',
      ]
        .filter((line, i, all) => line !== '' || all[i - 1] !== '')
        .join('\n'),
    );
  }

  await app.listen({ port: config.port, host: config.host });
  logger.info({ url: config.publicUrl, docs: `${config.publicUrl}/docs` }, 'listening');
  // Start-up is watched: its lines go out now, not with the next 16 KB.
  logs.flushSync();

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping: finishing requests in flight');
    const force = setTimeout(() => {
      logger.error('requests still running after 10s; exiting');
      process.exit(1);
    }, 10_000);
    force.unref();
    try {
      await app.close();
      await database.close();
      logger.info('stopped');
      process.exitCode = 0;
    } catch (error) {
      logger.error({ err: error }, 'error while stopping');
      process.exitCode = 1;
    }
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}
