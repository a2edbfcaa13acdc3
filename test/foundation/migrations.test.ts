import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { migrateToLatest, schemaStatus } from '../../src/db/migrate.js';
import { migrations } from '../../src/db/migrations/index.js';
import { openTestDatabase } from '../support/database.js';

describe('migrations', () => {
  it('apply to an empty database, then report the schema current', async () => {
    const database = await openTestDatabase({ migrate: false });
    try {
      expect((await schemaStatus(database.db)).current).toBe(false);
      const outcome = await migrateToLatest(database.db);
      expect(outcome).toEqual({ ok: true, applied: Object.keys(migrations) });
      expect(await schemaStatus(database.db)).toEqual({
        current: true,
        applied: Object.keys(migrations).length,
        pending: [],
      });
      expect(await migrateToLatest(database.db)).toEqual({ ok: true, applied: [] });
    } finally {
      await database.close();
    }
  });

  it('leave the schema unchanged when one fails', async () => {
    const database = await openTestDatabase({ migrate: false });
    try {
      // A table in the way makes the first migration fail half-way.
      await sql`create table api_keys (x int)`.execute(database.db);
      const outcome = await migrateToLatest(database.db);
      expect(outcome.ok).toBe(false);
      const { rows } = await sql<{
        n: number;
      }>`select count(*)::int as n from information_schema.tables where table_schema = current_schema() and table_name in ('tenants', 'installation')`.execute(
        database.db,
      );
      expect(rows[0]?.n).toBe(0);
    } finally {
      await database.close();
    }
  });

  it('run once when two processes migrate at the same time', async () => {
    const database = await openTestDatabase({ migrate: false });
    try {
      const [a, b] = await Promise.all([
        migrateToLatest(database.db),
        migrateToLatest(database.db),
      ]);
      expect(a.ok && b.ok).toBe(true);
      expect([...(a.applied ?? []), ...(b.applied ?? [])].sort()).toEqual(
        Object.keys(migrations).sort(),
      );
    } finally {
      await database.close();
    }
  });
});
