import { mkdirSync } from 'node:fs';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import type { Config } from '../config/config.js';
import { type Database, openDatabase } from '../db/database.js';

/**
 * Opens the configured database. PGlite is one process's database: a lock on
 * the data folder stops a second process (a second server, or a CLI command)
 * from opening it at the same time and corrupting it.
 */
export async function openConfiguredDatabase(config: Config): Promise<Database> {
  if (config.database.kind === 'postgres') {
    return openDatabase({
      kind: 'postgres',
      url: config.database.url,
      poolSize: config.database.poolSize,
    });
  }
  mkdirSync(config.database.dataDir, { recursive: true });
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(config.database.dataDir, {
      lockfilePath: path.join(config.dataDir, 'pglite.lock'),
      stale: 15_000,
      update: 5_000,
    });
  } catch {
    throw new Error(
      `The embedded database in ${config.database.dataDir} is in use by another Avow process. Stop it first, or use the HTTP API (the CLI's tenants and keys commands do).`,
    );
  }
  try {
    const database = await openDatabase({ kind: 'pglite', dataDir: config.database.dataDir });
    return {
      ...database,
      close: async () => {
        await database.close();
        await release();
      },
    };
  } catch (error) {
    await release();
    throw error;
  }
}
