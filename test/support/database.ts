import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { sql } from 'kysely';
import { type Database, openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';

/**
 * A real, empty database for one test file: in-memory PGlite by default, or a
 * schema of its own on the PostgreSQL server named by DATABASE_URL.
 */
export async function openTestDatabase(options: { migrate?: boolean } = {}): Promise<Database> {
  const url = process.env.DATABASE_URL;
  let database: Database;
  if (url) {
    const schema = `test_${randomBytes(6).toString('hex')}`;
    const admin = await openDatabase({ kind: 'postgres', url, poolSize: 1 });
    await sql`create schema ${sql.id(schema)}`.execute(admin.db);
    await admin.close();
    const scoped = await openDatabase({ kind: 'postgres', url, schema });
    database = {
      ...scoped,
      close: async () => {
        await sql`drop schema ${sql.id(schema)} cascade`.execute(scoped.db);
        // The job queue's schema beside it (src/jobs/jobs.ts jobsSchemaFor).
        await sql`drop schema if exists ${sql.id(`${schema}_jobs`)} cascade`.execute(scoped.db);
        await scoped.close();
      },
    };
  } else if (process.env.AVOW_TEST_PGLITE_TEMPLATE && options.migrate !== false) {
    // A copy of the database the run migrated once (test/support/global-setup.ts).
    const template = new Blob([readFileSync(process.env.AVOW_TEST_PGLITE_TEMPLATE)]);
    database = await openDatabase({ kind: 'pglite', loadDataDir: template });
  } else {
    database = await openDatabase({ kind: 'pglite' });
  }
  if (options.migrate !== false) {
    const outcome = await migrateToLatest(database.db);
    if (!outcome.ok) throw outcome.error;
  }
  return database;
}
