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
import {
  createWriteWatch,
  type WriteWatch,
  type WriteWatchControl,
  watchingDialect,
} from './write-watch.js';

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
  /** Committed writes per table, for in-memory copies of database state. */
  writes: WriteWatch & {
    /**
     * PostgreSQL: starts hearing other processes' writes (LISTEN), after which
     * `writes.live()` is true while the connection holds. PGlite: nothing to do.
     */
    listen: () => Promise<void>;
  };
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
    // One process owns an embedded database: every write passes through this driver.
    const watch = createWriteWatch({ live: true });
    const db = new KyselyDb<DatabaseSchema>({
      dialect: watchingDialect(new PGliteDialect(client), watch),
      plugins: [new CamelCasePlugin()],
    });
    return {
      ...wrap(db, 'pglite', { exec: (text) => client.exec(text) }),
      writes: { ...watch, listen: async () => {} },
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
  const watch = createWriteWatch({ live: false });
  const db = new KyselyDb<DatabaseSchema>({
    dialect: watchingDialect(new PostgresDialect({ pool }), watch),
    plugins: [new CamelCasePlugin()],
  });
  const listener = writeListener(target.url, watch);
  const base = wrap(db, 'postgres');
  return {
    ...base,
    writes: { ...watch, listen: listener.start },
    close: async () => {
      await listener.stop();
      await base.close();
    },
  };
}

/** The channel migration 0011's triggers notify, with the table's name. */
const WRITES_CHANNEL = 'avow_writes';

/**
 * Hears other processes' writes on one connection of its own. While it is
 * down the watch is not live (caches stand aside); when it is back, every table
 * counts as changed, since notifications sent meanwhile are lost.
 */
function writeListener(url: string, watch: WriteWatchControl) {
  let client: pg.Client | undefined;
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;

  async function connect(): Promise<void> {
    const next = new pg.Client({ connectionString: url });
    const lost = () => {
      watch.setLive(false);
      if (client === next) client = undefined;
      void next.end().catch(() => {});
      if (!stopped && !retry) {
        retry = setTimeout(() => {
          retry = undefined;
          connect().catch(() => {});
        }, 1000);
        retry.unref();
      }
    };
    next.on('error', lost);
    next.on('end', () => {
      if (client === next) lost();
    });
    next.on('notification', (message) => {
      if (message.payload) watch.written([message.payload]);
    });
    try {
      await next.connect();
      await next.query(`listen ${WRITES_CHANNEL}`);
    } catch (error) {
      lost();
      throw error;
    }
    client = next;
    watch.writtenAll();
    watch.setLive(true);
  }

  return {
    start: async () => {
      if (client || stopped) return;
      await connect();
    },
    stop: async () => {
      stopped = true;
      if (retry) clearTimeout(retry);
      watch.setLive(false);
      const current = client;
      client = undefined;
      await current?.end().catch(() => {});
    },
  };
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
): Omit<Database, 'writes'> {
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
