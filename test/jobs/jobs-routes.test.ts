import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineJob, type JobStatus } from '../../src/jobs/jobs.js';
import { startTestAvow, type TestAvow } from '../support/avow.js';
import { runAvow } from '../support/processes.js';

let avow: TestAvow;
const worked: string[] = [];

beforeAll(async () => {
  avow = await startTestAvow();
  // A domain's jobs plug in through the registry the composition root built.
  await avow.services.jobs.register(
    defineJob({
      name: 'test.nightly',
      payload: z.object({ scope: z.string() }),
      schedule: { cron: '30 2 * * *', payload: { scope: 'all' }, timezone: 'Europe/Helsinki' },
      handler: async (payload) => {
        worked.push(payload.scope);
      },
    }),
  );
}, 60_000);

afterAll(async () => {
  await avow?.close();
});

describe('GET /v1/jobs', () => {
  it('lists queues with counts by state and the schedules with their cron', async () => {
    await avow.services.jobs.send('test.nightly', { scope: 'one tenant' });
    // The server works jobs itself by default.
    while (!worked.includes('one tenant')) await new Promise((r) => setTimeout(r, 50));
    let reply = await avow.call<JobStatus>('GET', '/v1/jobs');
    while ((reply.body.queues.find((q) => q.name === 'test.nightly')?.counts.completed ?? 0) < 1) {
      await new Promise((r) => setTimeout(r, 50));
      reply = await avow.call<JobStatus>('GET', '/v1/jobs');
    }
    expect(reply.status).toBe(200);
    expect(reply.body.working).toBe(true);
    const nightly = reply.body.queues.find((q) => q.name === 'test.nightly');
    expect(nightly).toMatchObject({
      policy: 'standard',
      retryLimit: 3,
      retryDelaySeconds: 30,
      retryBackoff: true,
    });
    // The one sent above is done. The schedule itself may also have queued a run
    // when the suite happens to run near 02:30 Helsinki time, so `created` is 0 or 1.
    expect(nightly?.counts).toMatchObject({
      retry: 0,
      active: 0,
      completed: 1,
      cancelled: 0,
      failed: 0,
    });
    expect(nightly?.counts.created).toBeLessThanOrEqual(1);
    expect(reply.body.schedules).toContainEqual({
      name: 'test.nightly',
      cron: '30 2 * * *',
      timezone: 'Europe/Helsinki',
    });
    // The domains' own schedules are there too.
    expect(reply.body.schedules.map((s) => s.name)).toEqual(
      expect.arrayContaining(['retention.daily', 'audit.checkpoint', 'requests.remind-operators']),
    );
  });

  it('is for the operator only', async () => {
    const { token } = await avow.tenantWithKey(['admin']);
    expect((await avow.call('GET', '/v1/jobs', { token })).status).toBe(403);
    expect((await avow.call('GET', '/v1/jobs', { token: null })).status).toBe(401);
  });
});

describe('the CLI', () => {
  it('`avow jobs` prints the queues and schedules', async () => {
    const result = await runAvow(['jobs'], {
      AVOW_URL: avow.baseUrl,
      AVOW_API_KEY: avow.operatorToken,
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    // created, retry, active, completed, failed, cancelled (a scheduled run may add one).
    expect(result.stdout).toMatch(/test\.nightly\s+[01]\s+0\s+[01]\s+[12]\s+0\s+0/);
    expect(result.stdout).toMatch(/test\.nightly\s+30 2 \* \* \*\s+Europe\/Helsinki/);
  }, 60_000);

  it('`avow worker` refuses the embedded database and says what to do', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'avow-worker-'));
    try {
      const result = await runAvow(['worker'], { AVOW_DATA_DIR: dataDir, DATABASE_URL: undefined });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('`avow worker` runs beside Avow servers on PostgreSQL');
      expect(result.stderr).toContain('AVOW_WORKER=true');
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
