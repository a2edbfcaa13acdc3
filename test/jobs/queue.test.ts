import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type Database, openDatabase } from '../../src/db/database.js';
import { createJobRunner, defineJob, type JobRunner, jobsSchemaFor } from '../../src/jobs/jobs.js';
import { createLogger } from '../../src/server/logger.js';
import { openTestDatabase } from '../support/database.js';

const quiet = createLogger(
  'info',
  new Writable({
    write(_chunk, _encoding, done) {
      done();
    },
  }),
);

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function runnerOn(database: Database): Promise<JobRunner> {
  const runner = createJobRunner({
    database,
    logger: quiet,
    pollingIntervalSeconds: 0.5,
    stopTimeoutSeconds: 10,
  });
  cleanups.push(() => runner.stop());
  return runner;
}

async function freshDatabase(): Promise<Database> {
  const database = await openTestDatabase({ migrate: false });
  cleanups.push(() => database.close());
  return database;
}

/** Resolves when `check` holds; the test's own timeout bounds the wait. */
async function until(check: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((resolve) => setTimeout(resolve, 50));
}

async function statesOf(database: Database, name: string): Promise<string[]> {
  const { rows } = await database.executeSql(
    `SELECT state FROM ${await jobsSchemaFor(database)}.job WHERE name = $1 ORDER BY created_on`,
    [name],
  );
  return (rows as { state: string }[]).map((row) => row.state);
}

/**
 * A database that can be closed and opened again with its data: a PGlite
 * folder, or a schema of its own on the PostgreSQL server.
 */
async function reopenableDatabase(): Promise<() => Promise<Database>> {
  const url = process.env.DATABASE_URL;
  if (!url) {
    const dir = mkdtempSync(path.join(tmpdir(), 'avow-jobs-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    return () => openDatabase({ kind: 'pglite', dataDir: dir });
  }
  const schema = `test_${randomBytes(6).toString('hex')}`;
  const admin = await openDatabase({ kind: 'postgres', url, poolSize: 1 });
  await sql`create schema ${sql.id(schema)}`.execute(admin.db);
  cleanups.push(async () => {
    await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(admin.db);
    await sql`drop schema if exists ${sql.id(`${schema}_jobs`)} cascade`.execute(admin.db);
    await admin.close();
  });
  return () => openDatabase({ kind: 'postgres', url, schema });
}

const greeting = z.object({ tenantId: z.string().startsWith('ten_'), count: z.number().int() });

describe('the job queue', () => {
  it('works a job that was sent, with the payload it was sent', async () => {
    const database = await freshDatabase();
    const runner = await runnerOn(database);
    const seen: unknown[] = [];
    await runner.register(
      defineJob({
        name: 'test.greet',
        payload: greeting,
        handler: async (payload, context) => {
          seen.push({ payload, attempt: context.attempt });
        },
      }),
    );
    await runner.start({ work: true });
    const id = await runner.send('test.greet', { tenantId: 'ten_1', count: 2 });
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    await until(() => seen.length === 1);
    expect(seen).toEqual([{ payload: { tenantId: 'ten_1', count: 2 }, attempt: 1 }]);
    await until(async () => (await statesOf(database, 'test.greet'))[0] === 'completed');
  });

  it('retries a failing job after a backoff delay, then it succeeds', async () => {
    const database = await freshDatabase();
    const runner = await runnerOn(database);
    const attempts: { attempt: number; at: number }[] = [];
    await runner.register(
      defineJob({
        name: 'test.flaky',
        payload: z.object({}),
        retry: { limit: 2, delaySeconds: 1, backoff: true },
        handler: async (_payload, context) => {
          attempts.push({ attempt: context.attempt, at: Date.now() });
          if (context.attempt === 1) throw new Error('the first attempt fails');
        },
      }),
    );
    await runner.start({ work: true });
    await runner.send('test.flaky', {});
    await until(async () => (await statesOf(database, 'test.flaky'))[0] === 'completed');
    expect(attempts.map((a) => a.attempt)).toEqual([1, 2]);
    const [first, second] = attempts;
    // Backoff: the retry waits at least the base delay before it may start.
    expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(1000);
    const status = await runner.status();
    expect(status.queues).toContainEqual(
      expect.objectContaining({ name: 'test.flaky', retryLimit: 2, retryBackoff: true }),
    );
  });

  it('marks a job failed once its retries are used up', async () => {
    const database = await freshDatabase();
    const runner = await runnerOn(database);
    let runs = 0;
    await runner.register(
      defineJob({
        name: 'test.broken',
        payload: z.object({}),
        retry: { limit: 1, delaySeconds: 0, backoff: false },
        handler: async () => {
          runs += 1;
          throw new Error('always fails');
        },
      }),
    );
    await runner.start({ work: true });
    await runner.send('test.broken', {});
    await until(async () => (await statesOf(database, 'test.broken'))[0] === 'failed');
    expect(runs).toBe(2);
    const status = await runner.status();
    expect(status.queues.find((q) => q.name === 'test.broken')?.counts.failed).toBe(1);
  });

  it('keeps a queued job across a restart and works it after', async () => {
    const open = await reopenableDatabase();
    const worked: unknown[] = [];
    const job = defineJob({
      name: 'test.durable',
      payload: z.object({ note: z.string() }),
      handler: async (payload) => {
        worked.push(payload);
      },
    });

    const before = await open();
    const sender = createJobRunner({ database: before, logger: quiet });
    await sender.register(job);
    await sender.start({ work: false });
    await sender.send(job, { note: 'kept' });
    await sender.stop();
    await before.close();
    expect(worked).toEqual([]);

    const after = await open();
    cleanups.push(() => after.close());
    const worker = await runnerOn(after);
    await worker.register(job);
    await worker.start({ work: true });
    await until(() => worked.length === 1);
    expect(worked).toEqual([{ note: 'kept' }]);
  });

  it('refuses an invalid payload at send, naming the field', async () => {
    const database = await freshDatabase();
    const runner = await runnerOn(database);
    await runner.register(
      defineJob({ name: 'test.greet', payload: greeting, handler: async () => {} }),
    );
    await runner.start({ work: false });
    const refused = runner.send('test.greet', { tenantId: 'nope', count: 1.5 });
    await expect(refused).rejects.toThrow(
      'The payload for job test.greet does not match its schema',
    );
    await expect(refused).rejects.toMatchObject({
      details: [
        expect.objectContaining({ path: 'payload.tenantId' }),
        expect.objectContaining({ path: 'payload.count' }),
      ],
    });
    await expect(runner.send('test.unknown', {})).rejects.toThrow('No job named test.unknown');
    expect(await statesOf(database, 'test.greet')).toEqual([]);
  });

  it('queues a job with a singleton key once while one is waiting', async () => {
    const database = await freshDatabase();
    const runner = await runnerOn(database);
    const job = defineJob({
      name: 'test.once',
      payload: z.object({}),
      policy: 'short',
      handler: async () => {},
    });
    await runner.register(job);
    await runner.start({ work: false });
    expect(await runner.send(job, {}, { singletonKey: 'ten_1' })).not.toBeNull();
    expect(await runner.send(job, {}, { singletonKey: 'ten_1' })).toBeNull();
    expect(await runner.send(job, {}, { singletonKey: 'ten_2' })).not.toBeNull();
    expect(await statesOf(database, 'test.once')).toEqual(['created', 'created']);
  });

  it('queues a job sent in a transaction only when the transaction commits', async () => {
    const database = await freshDatabase();
    const runner = await runnerOn(database);
    const job = defineJob({ name: 'test.tx', payload: z.object({}), handler: async () => {} });
    await runner.register(job);
    await runner.start({ work: false });
    await expect(
      database.db.transaction().execute(async (trx) => {
        await runner.send(job, {}, { db: trx });
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(await statesOf(database, 'test.tx')).toEqual([]);
    await database.db.transaction().execute(async (trx) => {
      await runner.send(job, {}, { db: trx });
    });
    expect(await statesOf(database, 'test.tx')).toEqual(['created']);
  });

  it('stops gracefully: a running job finishes before stop() resolves', async () => {
    const database = await freshDatabase();
    const runner = createJobRunner({
      database,
      logger: quiet,
      pollingIntervalSeconds: 0.5,
      stopTimeoutSeconds: 20,
    });
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const events: string[] = [];
    await runner.register(
      defineJob({
        name: 'test.slow',
        payload: z.object({}),
        handler: async () => {
          events.push('job started');
          await gate;
          events.push('job finished');
        },
      }),
    );
    await runner.start({ work: true });
    await runner.send('test.slow', {});
    await until(() => events.includes('job started'));

    const stopped = runner.stop().then(() => events.push('stopped'));
    // Longer than pg-boss's own 500 ms check for running jobs.
    await new Promise((resolve) => setTimeout(resolve, 1200));
    expect(events).toEqual(['job started']);
    release();
    await stopped;
    expect(events).toEqual(['job started', 'job finished', 'stopped']);
    expect(await statesOf(database, 'test.slow')).toEqual(['completed']);
  });
});

describe('defineJob', () => {
  it('refuses a name that does not read resource.verb', () => {
    expect(() =>
      defineJob({ name: 'Bad Name', payload: z.object({}), handler: async () => {} }),
    ).toThrow('must read resource.verb');
  });

  it('refuses a schedule whose payload does not match the schema', () => {
    expect(() =>
      defineJob({
        name: 'test.scheduled',
        payload: greeting,
        handler: async () => {},
        schedule: { cron: '0 3 * * *', payload: { tenantId: 'x', count: 1 } },
      }),
    ).toThrow('The scheduled payload of job test.scheduled does not match its schema');
  });
});
