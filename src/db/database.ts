import { PGlite } from '@electric-sql/pglite';
import {
  CamelCasePlugin,
  CompiledQuery,
  type Kysely,
  Kysely as KyselyDb,
  PostgresDialect,
  sql,
} from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import pg from 'pg';
import type { DatabaseSchema } from './schema.js';

/**
 * The database seam. Every store takes a `Db` (or a transaction of one) and
 * speaks PostgreSQL; whether it runs on PGlite in a folder or on a server is
 * decided here and nowhere else.
 */
export type Db = Kysely<DatabaseSchema>;

export type DatabaseTarget =
  | { kind: 'pglite'; dataDir?: string }
  | { kind: 'postgres'; url: string; poolSize?: number; schema?: string };

export type Database = {
  db: Db;
  kind: DatabaseTarget['kind'];
  /** Runs one SQL text with positional parameters; for libraries that bring their own SQL. */
  executeSql: (text: string, values?: unknown[]) => Promise<{ rows: unknown[] }>;
  close: () => Promise<void>;
};

// int8 and numeric come back as strings from node-postgres; counts in Avow fit a JS number.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));
// A calendar date is a date, not a midnight in the server's time zone.
pg.types.setTypeParser(pg.types.builtins.DATE, (value) => value);
const DATE_OID = 1082;

export async function openDatabase(target: DatabaseTarget): Promise<Database> {
  if (target.kind === 'pglite') {
    const options = { parsers: { [DATE_OID]: (value: string) => value } };
    const client = target.dataDir
      ? await PGlite.create(target.dataDir, options)
      : await PGlite.create(options);
    const db = new KyselyDb<DatabaseSchema>({
      dialect: new PGliteDialect(client),
      plugins: [new CamelCasePlugin()],
    });
    return wrap(db, 'pglite');
  }
  const pool = new pg.Pool({
    connectionString: target.url,
    max: target.poolSize ?? 10,
    // A schema per test file keeps parallel suites apart on one server.
    ...(target.schema ? { options: `-c search_path=${target.schema}` } : {}),
  });
  // An idle client that loses its server emits 'error'; without a listener that kills the process.
  pool.on('error', () => {});
  const db = new KyselyDb<DatabaseSchema>({
    dialect: new PostgresDialect({ pool }),
    plugins: [new CamelCasePlugin()],
  });
  return wrap(db, 'postgres');
}

function wrap(db: Db, kind: DatabaseTarget['kind']): Database {
  return {
    db,
    kind,
    // Goes through Kysely's driver, so on PGlite it waits its turn on the one
    // connection instead of landing inside someone else's transaction.
    executeSql: async (text, values = []) => {
      const out = await db.executeQuery(CompiledQuery.raw(text, values));
      return { rows: out.rows as unknown[] };
    },
    close: () => db.destroy(),
  };
}

export async function ping(db: Db): Promise<void> {
  await sql`select 1`.execute(db);
}
