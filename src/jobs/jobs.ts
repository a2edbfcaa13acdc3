import { CompiledQuery } from 'kysely';
import PgBoss from 'pg-boss';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { Database, Db } from '../db/database.js';
import { AppError } from '../errors/errors.js';

/**
 * Background work on a durable queue in the database (pg-boss, in a schema of
 * its own), on PGlite and PostgreSQL alike.
 *
 * Delivery is at least once: a job whose worker dies or runs past its
 * expiry is run again, and a failed job is retried. So every handler MUST be
 * idempotent: running it twice with the same payload leaves the same result as
 * running it once (check before you change, key writes by the payload, and
 * write the change and its mark of completion in one transaction).
 */

export type JobPolicy = 'standard' | 'short' | 'singleton' | 'stately';

export type RetryPolicy = {
  /** Attempts after the first one. */
  limit: number;
  /** Seconds before a retry; with backoff, the base that doubles per attempt (with jitter). */
  delaySeconds: number;
  backoff: boolean;
};

export type JobContext = {
  id: string;
  name: string;
  /** 1 on the first run, 2 on the first retry, ... */
  attempt: number;
  retryLimit: number;
};

export type JobDefinition<S extends z.ZodType = z.ZodType> = {
  /** `resource.verb`, such as `requests.remind`: lower case, dots, dashes or underscores. */
  name: string;
  /** Checked when a job is sent and again when it is worked. */
  payload: S;
  // A method, so a definition with a narrower payload still fits `JobDefinition[]`.
  handler(payload: z.output<S>, context: JobContext): Promise<void>;
  /** Default: 3 retries, backoff from 30 s. */
  retry?: RetryPolicy;
  /**
   * How jobs of this name are deduplicated by `singletonKey` (pg-boss queue policies):
   * `standard` none (the default); `short` at most one waiting per key; `singleton` at most
   * one running per key; `stately` at most one waiting and one running per key.
   */
  policy?: JobPolicy;
  /** A run that takes longer fails and is retried. Default 15 minutes, at most 23 hours. */
  expireInSeconds?: number;
  /** A cron expression (5 fields; UTC unless `timezone`) and the payload each run gets. */
  schedule?: { cron: string; payload: z.input<S>; timezone?: string };
};

export type SendOptions = {
  /** With a policy other than `standard`: a second job with the same key is not queued. */
  singletonKey?: string;
  /** When to run, as a time or a delay in seconds. */
  startAfter?: Date | number;
  /** A transaction: the job is queued only if it commits (and on PGlite, this avoids waiting on yourself). */
  db?: Db;
};

export type JobCounts = Record<(typeof jobStates)[number], number>;

export type JobStatus = {
  /** Whether this process works jobs. */
  working: boolean;
  queues: {
    name: string;
    policy: JobPolicy;
    retryLimit: number;
    retryDelaySeconds: number;
    retryBackoff: boolean;
    counts: JobCounts;
  }[];
  schedules: { name: string; cron: string; timezone: string }[];
};

export type JobRunnerDeps = {
  database: Database;
  logger: Logger;
  /** pg-boss's schema; default from jobsSchemaFor(). */
  schema?: string;
  /** How often an idle worker looks for jobs. Default 2 s; at least 0.5 s. */
  pollingIntervalSeconds?: number;
  /** How long stop() lets running jobs finish before failing them (they are then retried). Default 30 s. */
  stopTimeoutSeconds?: number;
  /**
   * Whether a working process turns schedules into jobs (default true). Tests
   * turn it off: a schedule firing in the middle of a test (consent.expire at
   * minute 27) would change what the test reads; they run jobs themselves.
   */
  cron?: boolean;
};

export type JobRunner = {
  /** Adds jobs; before start, or after (they are set up at once). A name may be registered once. */
  register: (...definitions: JobDefinition[]) => Promise<void>;
  /** Queues a job; resolves to its id, or null when a job with the same singletonKey is already queued. */
  send: <S extends z.ZodType>(
    job: JobDefinition<S> | string,
    payload: z.input<S>,
    options?: SendOptions,
  ) => Promise<string | null>;
  /** Installs or upgrades the queue schema, writes the schedules, and with `work` runs workers and cron. */
  start: (options: { work: boolean }) => Promise<void>;
  /** Stops taking jobs and waits for running ones to finish. */
  stop: () => Promise<void>;
  status: () => Promise<JobStatus>;
  names: () => string[];
  /** The schema holding the queue's tables (known once started). */
  schema: () => string;
};

export const jobStates = [
  'created',
  'retry',
  'active',
  'completed',
  'cancelled',
  'failed',
] as const;

const jobName = /^[a-z][a-z0-9]*(?:[._-][a-z0-9]+)*$/;
const defaultRetry: RetryPolicy = { limit: 3, delaySeconds: 30, backoff: true };
// pg-boss's own queue that turns schedules into jobs.
const internalQueue = /^__pgboss__/;

/** Declares a job; typing the handler's payload from its schema. */
export function defineJob<S extends z.ZodType>(definition: JobDefinition<S>): JobDefinition<S> {
  if (!jobName.test(definition.name) || definition.name.length > 100) {
    throw new Error(
      `Job name "${definition.name}" must read resource.verb: lower-case letters and digits, separated by ".", "-" or "_" (at most 100 characters)`,
    );
  }
  if (definition.schedule) {
    const check = definition.payload.safeParse(definition.schedule.payload);
    if (!check.success) {
      throw new Error(
        `The scheduled payload of job ${definition.name} does not match its schema: ${describe(check.error)}`,
      );
    }
  }
  return definition;
}

/**
 * Runs `work` for every tenant, each on its own: one tenant's failure does not
 * keep the others waiting for the next run. Afterwards it fails (so the job
 * shows as failed and its log line names them) if any tenant did.
 */
export async function forEachTenant(
  tenantIds: readonly string[],
  work: (tenantId: string) => Promise<unknown>,
): Promise<void> {
  const failed: string[] = [];
  for (const tenantId of tenantIds) {
    try {
      await work(tenantId);
    } catch (error) {
      failed.push(`${tenantId}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  if (failed.length > 0) {
    throw new Error(
      `${failed.length} of ${tenantIds.length} tenants failed (the others ran): ${failed.join('; ')}`,
    );
  }
}

/**
 * pg-boss's schema sits beside Avow's tables: `avow_jobs` beside `public`, or
 * `<schema>_jobs` when the connection's search_path puts Avow in a schema of
 * its own (as each test file's does), so installations sharing a server stay apart.
 */
export async function jobsSchemaFor(database: Database): Promise<string> {
  if (database.kind === 'pglite') return 'avow_jobs';
  const { rows } = await database.executeSql('SELECT current_schema() AS schema');
  const current = (rows[0] as { schema?: string | null } | undefined)?.schema;
  // pg-boss takes a schema name of word characters, at most 50 long.
  if (!current || current === 'public' || !/^\w{1,45}$/.test(current)) return 'avow_jobs';
  return `${current}_jobs`;
}

export function createJobRunner(deps: JobRunnerDeps): JobRunner {
  const { database, logger } = deps;
  let schema = deps.schema ?? '';
  const pollingIntervalSeconds = deps.pollingIntervalSeconds ?? 2;
  const stopTimeoutMs = (deps.stopTimeoutSeconds ?? 30) * 1000;
  const log = logger.child({ component: 'jobs' });

  const definitions = new Map<string, JobDefinition>();
  let boss: PgBoss | undefined;
  let working = false;

  // pg-boss does not await marking a job done; stop() waits for every query it
  // started, so the database is never closed under one.
  const inFlight = new Set<Promise<unknown>>();
  const adapter = {
    executeSql: (text: string, values: unknown[] = []) => {
      const query = database.executeSql(text, values);
      inFlight.add(query);
      void query.finally(() => inFlight.delete(query)).catch(() => {});
      return query;
    },
  };

  const setUp = async (instance: PgBoss, definition: JobDefinition) => {
    const retry = definition.retry ?? defaultRetry;
    const queue = {
      name: definition.name,
      policy: definition.policy ?? 'standard',
      retryLimit: retry.limit,
      retryDelay: retry.delaySeconds,
      retryBackoff: retry.backoff,
      ...(definition.expireInSeconds ? { expireInSeconds: definition.expireInSeconds } : {}),
    };
    await instance.createQueue(definition.name, queue);
    // A queue made by an earlier version keeps its row; bring its policy up to date.
    await instance.updateQueue(definition.name, queue);
    if (definition.schedule) {
      await instance.schedule(
        definition.name,
        definition.schedule.cron,
        definition.schedule.payload as object,
        { tz: definition.schedule.timezone ?? 'UTC' },
      );
    } else {
      await instance.unschedule(definition.name);
    }
    if (working) await instance.work(definition.name, workOptions, handle(definition));
  };

  const workOptions = {
    includeMetadata: true as const,
    batchSize: 1,
    pollingIntervalSeconds,
  };

  const handle =
    (definition: JobDefinition) =>
    async ([job]: PgBoss.JobWithMetadata<unknown>[]): Promise<void> => {
      if (!job) return;
      const context: JobContext = {
        id: job.id,
        name: job.name,
        attempt: job.retryCount + 1,
        retryLimit: job.retryLimit,
      };
      const parsed = definition.payload.safeParse(job.data);
      if (!parsed.success) {
        log.error(
          { job: job.name, jobId: job.id, problems: describe(parsed.error) },
          'job payload does not match its schema',
        );
        throw new Error(`The payload of job ${job.name} does not match its schema`);
      }
      const started = Date.now();
      try {
        await definition.handler(parsed.data, context);
        log.info(
          { job: job.name, jobId: job.id, attempt: context.attempt, ms: Date.now() - started },
          'job done',
        );
      } catch (error) {
        log.warn(
          { job: job.name, jobId: job.id, attempt: context.attempt, err: error },
          context.attempt > context.retryLimit
            ? 'job failed; no retries left'
            : 'job failed; will retry',
        );
        throw error;
      }
    };

  const started = (): PgBoss => {
    if (!boss) throw new Error('The job runner is not started; start() it first');
    return boss;
  };

  return {
    register: async (...added) => {
      for (const definition of added) {
        if (definitions.has(definition.name)) {
          throw new Error(`Job ${definition.name} is registered twice`);
        }
        definitions.set(definition.name, definition);
        if (boss) await setUp(boss, definition);
      }
    },

    send: async (job, payload, options = {}) => {
      const name = typeof job === 'string' ? job : job.name;
      const definition = definitions.get(name);
      if (!definition) {
        throw new Error(`No job named ${name} is registered; register it in the composition root`);
      }
      const parsed = definition.payload.safeParse(payload);
      if (!parsed.success) {
        throw new AppError('internal', `The payload for job ${name} does not match its schema`, {
          details: parsed.error.issues.map((issue) => ({
            path: ['payload', ...issue.path.map(String)].join('.'),
            message: issue.message,
          })),
        });
      }
      if (options.singletonKey !== undefined && (definition.policy ?? 'standard') === 'standard') {
        throw new Error(
          `Job ${name} has the standard policy, which ignores singletonKey; give it policy short, singleton or stately`,
        );
      }
      const instance = started();
      const sendOptions: PgBoss.SendOptions = {
        ...(options.singletonKey !== undefined ? { singletonKey: options.singletonKey } : {}),
        ...(options.startAfter !== undefined ? { startAfter: options.startAfter } : {}),
        ...(options.db ? { db: transactionAdapter(options.db) } : {}),
      };
      return instance.send(name, parsed.data as object, sendOptions);
    },

    start: async ({ work }) => {
      if (boss) return;
      schema ||= await jobsSchemaFor(database);
      const instance = new PgBoss({
        db: adapter,
        schema,
        migrate: true,
        // Maintenance (expiring stuck jobs, archiving) and cron belong to processes that work.
        supervise: work,
        schedule: work && (deps.cron ?? true),
        pollingIntervalSeconds,
        cronWorkerIntervalSeconds: Math.max(1, pollingIntervalSeconds),
      });
      instance.on('error', (error) => log.error({ err: error }, 'job queue error'));
      await instance.start();
      boss = instance;
      working = work;
      for (const definition of definitions.values()) await setUp(instance, definition);
      log.info({ schema, working: work, jobs: [...definitions.keys()] }, 'job queue started');
    },

    stop: async () => {
      const instance = boss;
      if (!instance) return;
      boss = undefined;
      working = false;
      await instance.stop({ graceful: true, wait: true, timeout: stopTimeoutMs });
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
      log.info('job queue stopped');
    },

    status: async () => {
      const instance = started();
      const [queues, schedules, counts] = await Promise.all([
        instance.getQueues(),
        instance.getSchedules(),
        database.executeSql(
          `SELECT name, state, count(*)::int AS count FROM ${schema}.job GROUP BY name, state`,
        ),
      ]);
      const byQueue = new Map<string, JobCounts>();
      for (const row of counts.rows as { name: string; state: string; count: number }[]) {
        const entry = byQueue.get(row.name) ?? emptyCounts();
        if ((jobStates as readonly string[]).includes(row.state)) {
          entry[row.state as keyof JobCounts] = Number(row.count);
        }
        byQueue.set(row.name, entry);
      }
      return {
        working,
        queues: queues
          .filter((queue) => !internalQueue.test(queue.name))
          .map((queue) => ({
            name: queue.name,
            policy: queue.policy ?? 'standard',
            retryLimit: queue.retryLimit ?? 0,
            retryDelaySeconds: queue.retryDelay ?? 0,
            retryBackoff: queue.retryBackoff ?? false,
            counts: byQueue.get(queue.name) ?? emptyCounts(),
          }))
          .sort((a, b) => a.name.localeCompare(b.name)),
        schedules: (schedules as (PgBoss.Schedule & { timezone?: string })[])
          .map((s) => ({ name: s.name, cron: s.cron, timezone: s.timezone ?? 'UTC' }))
          .sort((a, b) => a.name.localeCompare(b.name)),
      };
    },

    names: () => [...definitions.keys()],
    schema: () => {
      started();
      return schema;
    },
  };
}

function emptyCounts(): JobCounts {
  return { created: 0, retry: 0, active: 0, completed: 0, cancelled: 0, failed: 0 };
}

function transactionAdapter(db: Db): PgBoss.Db {
  const raw = db.withoutPlugins();
  return {
    executeSql: async (text, values) => {
      const out = await raw.executeQuery(CompiledQuery.raw(text, values));
      return { rows: out.rows as unknown[] };
    },
  };
}

function describe(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length ? `${issue.path.join('.')}: ` : ''}${issue.message}`)
    .join('; ');
}
