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
  | {
      kind: 'pglite';
      dataDir?: string;
      /** Start from a dump of another PGlite data folder (dumpDataDir) instead of an empty one. */
      loadDataDir?: Blob;
    }
  | { kind: 'postgres'; url: string; poolSize?: number; schema?: string };

export type Database = {
  db: Db;
  kind: DatabaseTarget['kind'];
  /**
   * Runs one SQL text with positional parameters; for libraries that bring their own SQL.
   * A text without parameters may hold several statements (pg-boss's migrations do).
   */
  executeSql: (text: string, values?: unknown[]) => Promise<{ rows: unknown[] }>;
  /** PGlite only: the data folder as a tar, for `loadDataDir` (test templates). */
  dumpDataDir?: () => Promise<Blob>;
  close: () => Promise<void>;
};

// int8 and numeric come back as strings from node-postgres; counts in Avow fit a JS number.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));
// A calendar date is a date, not a midnight in the server's time zone.
pg.types.setTypeParser(pg.types.builtins.DATE, (value) => value);
const DATE_OID = 1082;

export async function openDatabase(target: DatabaseTarget): Promise<Database> {
  if (target.kind === 'pglite') {
    const options = {
      parsers: { [DATE_OID]: (value: string) => value },
      ...(target.loadDataDir ? { loadDataDir: target.loadDataDir } : {}),
    };
    const client = target.dataDir
      ? await PGlite.create(target.dataDir, options)
      : await PGlite.create(options);
    const db = new KyselyDb<DatabaseSchema>({
      dialect: new PGliteDialect(client),
      plugins: [new CamelCasePlugin()],
    });
    return {
      ...wrap(db, 'pglite', { exec: (text) => client.exec(text) }),
      dumpDataDir: () => client.dumpDataDir('none'),
    };
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

// A semicolon followed by more SQL: several statements in one text.
const severalStatements = /;\s*\S/;

function wrap(
  db: Db,
  kind: DatabaseTarget['kind'],
  extra: {
    /** PGlite's simple-protocol call; its `query` takes one statement only. */
    exec?: (text: string) => Promise<{ rows: unknown[] }[]>;
  } = {},
): Database {
  // Libraries bring their own SQL and expect rows as the server sends them:
  // no camelCasing of column names or of keys inside JSON values.
  const raw = db.withoutPlugins();
  return {
    db,
    kind,
    // Goes through Kysely's driver, so on PGlite it waits its turn on the one
    // connection instead of landing inside someone else's transaction.
    executeSql: async (text, values = []) => {
      if (values.length > 0 || !severalStatements.test(text)) {
        const out = await raw.executeQuery(CompiledQuery.raw(text, values));
        return { rows: out.rows as unknown[] };
      }
      // Several statements (often BEGIN ... COMMIT) run on one held connection;
      // if one fails, that connection is rolled back before anyone else gets it,
      // so a failed text never leaves an open, aborted transaction behind.
      return raw.connection().execute(async (connection) => {
        try {
          if (extra.exec) {
            const results = await extra.exec(text);
            return { rows: results.at(-1)?.rows ?? [] };
          }
          // node-postgres sends a text without parameters as a simple query, which may hold several statements.
          const out = await connection.executeQuery(CompiledQuery.raw(text, []));
          return { rows: out.rows as unknown[] };
        } catch (error) {
          await connection.executeQuery(CompiledQuery.raw('rollback')).catch(() => {});
          throw error;
        }
      });
    },
    close: () => db.destroy(),
  };
}

export async function ping(db: Db): Promise<void> {
  await sql`select 1`.execute(db);
}
