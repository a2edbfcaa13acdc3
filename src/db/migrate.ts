import { type MigrationResult, Migrator, sql } from 'kysely';
import type { Db } from './database.js';
import { migrations } from './migrations/index.js';

/**
 * Kysely's migrator runs the pending migrations in one transaction under a
 * PostgreSQL advisory lock, so two processes starting together cannot race and
 * a failed migration leaves the schema as it was.
 */
async function migrator(db: Db): Promise<Migrator> {
  // Named explicitly: without a schema Kysely looks for its tables in every schema,
  // and finds another installation's (or another test file's) on a shared server.
  const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(db);
  return new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    migrationTableName: 'avow_migrations',
    migrationLockTableName: 'avow_migrations_lock',
    migrationTableSchema: rows[0]?.schema ?? 'public',
  });
}

export type MigrateOutcome =
  | { ok: true; applied: string[] }
  | { ok: false; applied: string[]; failed: string | undefined; error: unknown };

export async function migrateToLatest(db: Db): Promise<MigrateOutcome> {
  const { error, results = [] } = await (await migrator(db)).migrateToLatest();
  const applied = results
    .filter((r: MigrationResult) => r.status === 'Success')
    .map((r) => r.migrationName);
  if (error) {
    const failed = results.find((r) => r.status === 'Error')?.migrationName;
    return { ok: false, applied, failed, error };
  }
  return { ok: true, applied };
}

export type SchemaStatus = { current: boolean; applied: number; pending: string[] };

export async function schemaStatus(db: Db): Promise<SchemaStatus> {
  const all = await (await migrator(db)).getMigrations();
  const pending = all.filter((m) => !m.executedAt).map((m) => m.name);
  return { current: pending.length === 0, applied: all.length - pending.length, pending };
}

/** Used by tests and the CLI to see what the database holds. */
export async function listTables(db: Db): Promise<string[]> {
  const { rows } = await sql<{ tableName: string }>`
    select table_name from information_schema.tables where table_schema = current_schema() order by 1
  `.execute(db);
  return rows.map((r) => r.tableName);
}
