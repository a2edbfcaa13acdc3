import type {
  CompiledQuery,
  DatabaseConnection,
  Dialect,
  Driver,
  QueryResult,
  TransactionSettings,
} from 'kysely';

/**
 * Which tables have changed since a caller last looked: a version per table
 * that rises after every committed write to it, so an in-memory copy of
 * database state (the decisions' subject-state cache) can tell it has gone
 * stale without asking the database.
 *
 * Writes by this process are seen at the driver: every statement's SQL is
 * scanned for the tables it inserts into, updates or deletes from, and the
 * versions rise once the write has committed (at COMMIT for a transaction, when
 * the statement returns otherwise). Writes by other processes arrive as
 * notifications from the triggers of migration 0011 (PostgreSQL only: an
 * embedded database belongs to one process).
 *
 * The scan sees the SQL the service sends, not what a database function does
 * inside: a function that writes a watched table must be called by a
 * statement that names the table too, or the table must be marked written by
 * hand. None does today (audit_append and audit_prune write only audit tables).
 */
export type WriteWatch = {
  /** Rises after each committed write to the table. */
  version: (table: string) => number;
  /**
   * False while writes by other processes could go unseen (PostgreSQL, before
   * `listen` or while its connection is down): state must not be cached then.
   */
  live: () => boolean;
};

export type WriteWatchControl = WriteWatch & {
  /** A committed write to these tables, seen here or notified by another process. */
  written: (tables: Iterable<string>) => void;
  /** Every table may have changed (a lost notification connection came back). */
  writtenAll: () => void;
  setLive: (live: boolean) => void;
};

export function createWriteWatch(options: { live: boolean }): WriteWatchControl {
  const versions = new Map<string, number>();
  // Bumped by writtenAll; part of every table's version.
  let epoch = 0;
  let live = options.live;
  return {
    version: (table) => epoch + (versions.get(table) ?? 0),
    live: () => live,
    written: (tables) => {
      for (const table of tables) versions.set(table, (versions.get(table) ?? 0) + 1);
    },
    writtenAll: () => {
      epoch += 1;
    },
    setLive: (value) => {
      live = value;
    },
  };
}

// The table after INSERT INTO, UPDATE or DELETE FROM, anywhere in a statement
// (CTEs write too), quoted or not, with or without a schema. Seeing more than
// is written ("do update set") only costs a cache miss.
const writeTarget =
  /\b(?:insert\s+into|update|delete\s+from|truncate(?:\s+table)?)\s+(?:"?\w+"?\.)?"?(\w+)"?/gi;

export function tablesWritten(sqlText: string): string[] {
  const tables: string[] = [];
  for (const match of sqlText.matchAll(writeTarget)) {
    if (match[1]) tables.push(match[1].toLowerCase());
  }
  return tables;
}

/** A dialect whose driver reports committed writes to `watch`. */
export function watchingDialect(dialect: Dialect, watch: WriteWatchControl): Dialect {
  return {
    createAdapter: () => dialect.createAdapter(),
    createQueryCompiler: () => dialect.createQueryCompiler(),
    createIntrospector: (db) => dialect.createIntrospector(db),
    createDriver: () => watchingDriver(dialect.createDriver(), watch),
  };
}

function watchingDriver(driver: Driver, watch: WriteWatchControl): Driver {
  // Our wrapper of each connection, and the tables its open transaction wrote.
  const inner = new WeakMap<DatabaseConnection, DatabaseConnection>();
  const pending = new WeakMap<DatabaseConnection, Set<string> | null>();

  function wrapConnection(connection: DatabaseConnection): DatabaseConnection {
    const wrapped: DatabaseConnection = {
      executeQuery: async <R>(query: CompiledQuery): Promise<QueryResult<R>> => {
        const result = await connection.executeQuery<R>(query);
        const tables = tablesWritten(query.sql);
        if (tables.length > 0) {
          const open = pending.get(wrapped);
          if (open) for (const table of tables) open.add(table);
          else watch.written(tables);
        }
        return result;
      },
      streamQuery: (query, chunkSize) => connection.streamQuery(query, chunkSize),
    };
    inner.set(wrapped, connection);
    return wrapped;
  }
  const unwrap = (connection: DatabaseConnection) => inner.get(connection) ?? connection;

  return {
    init: () => driver.init(),
    acquireConnection: async () => wrapConnection(await driver.acquireConnection()),
    beginTransaction: async (connection, settings: TransactionSettings) => {
      await driver.beginTransaction(unwrap(connection), settings);
      pending.set(connection, new Set());
    },
    commitTransaction: async (connection) => {
      const tables = pending.get(connection);
      pending.set(connection, null);
      try {
        await driver.commitTransaction(unwrap(connection));
      } finally {
        // Also when COMMIT fails: whether it took effect is then unknown.
        if (tables && tables.size > 0) watch.written(tables);
      }
    },
    rollbackTransaction: async (connection) => {
      pending.set(connection, null);
      await driver.rollbackTransaction(unwrap(connection));
    },
    ...(driver.savepoint && {
      savepoint: (connection, name, compile) =>
        driver.savepoint?.(unwrap(connection), name, compile) ?? Promise.resolve(),
    }),
    ...(driver.rollbackToSavepoint && {
      rollbackToSavepoint: (connection, name, compile) =>
        driver.rollbackToSavepoint?.(unwrap(connection), name, compile) ?? Promise.resolve(),
    }),
    ...(driver.releaseSavepoint && {
      releaseSavepoint: (connection, name, compile) =>
        driver.releaseSavepoint?.(unwrap(connection), name, compile) ?? Promise.resolve(),
    }),
    releaseConnection: (connection) => driver.releaseConnection(unwrap(connection)),
    destroy: () => driver.destroy(),
  };
}
