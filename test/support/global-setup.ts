import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';

/**
 * On PGlite every test file needs a fresh migrated database, and making one
 * from nothing (initdb in WASM, then every migration) took most of a file's
 * time. This migrates one database per run and leaves its dump for the files
 * to start from (test/support/database.ts). Workers inherit the variable.
 */
export async function setup(): Promise<() => void> {
  if (process.env.DATABASE_URL) return () => {};
  const database = await openDatabase({ kind: 'pglite' });
  const outcome = await migrateToLatest(database.db);
  if (!outcome.ok) throw outcome.error;
  if (!database.dumpDataDir) throw new Error('PGlite database without dumpDataDir');
  const dump = await database.dumpDataDir();
  await database.close();
  const dir = mkdtempSync(path.join(tmpdir(), 'avow-test-template-'));
  const file = path.join(dir, 'migrated.tar');
  writeFileSync(file, Buffer.from(await dump.arrayBuffer()));
  process.env.AVOW_TEST_PGLITE_TEMPLATE = file;
  return () => rmSync(dir, { recursive: true, force: true });
}
