import type { Config } from '../config/config.js';
import { loadInstallationKeys } from '../crypto/installation-keys.js';
import { migrateToLatest } from '../db/migrate.js';
import { createServices, startJobs } from '../server/app.js';
import { createLogger, logDestination } from '../server/logger.js';
import { openConfiguredDatabase } from '../server/runtime.js';

export const embeddedWorkerRefusal =
  '`avow worker` runs beside Avow servers on PostgreSQL (set DATABASE_URL). The embedded database belongs to one process, so there `avow serve` works the jobs itself (AVOW_WORKER=true, the default).';

/**
 * `avow worker`: the job queue's worker without HTTP, for scaling out on
 * PostgreSQL. Resolves once SIGTERM or SIGINT has stopped it gracefully.
 */
export async function runWorker(config: Config): Promise<void> {
  if (config.database.kind !== 'postgres') throw new Error(embeddedWorkerRefusal);
  const logs = logDestination(1);
  const logger = createLogger(config.logLevel, logs);
  const keys = loadInstallationKeys(config);
  const database = await openConfiguredDatabase(config);
  try {
    if (config.migrateOnStart) {
      const outcome = await migrateToLatest(database.db);
      if (!outcome.ok) {
        throw new Error(
          `Migration ${outcome.failed ?? '(unknown)'} failed; the schema is unchanged. Cause: ${String(outcome.error)}`,
        );
      }
    }
    const services = createServices({ database, keys, logger, publicUrl: config.publicUrl });
    await startJobs(services, { work: true });
    logger.info(
      { jobs: services.jobs.names() },
      'worker running; SIGTERM stops it after running jobs finish',
    );
    // Start-up is watched: its lines go out now, not with the next 16 KB.
    logs.flushSync();

    const signal = await new Promise<string>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    });
    logger.info({ signal }, 'stopping: finishing running jobs');
    await services.jobs.stop();
    logger.info('stopped');
  } finally {
    await database.close();
  }
}
