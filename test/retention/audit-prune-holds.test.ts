import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuditService } from '../../src/audit/audit-service.js';
import { startTestAvow, type TestAvow } from '../support/avow.js';
import { boundaryRegister, client, daysAgo } from './support.js';

/**
 * The audit log is the evidence a legal hold preserves (Art. 17(3)(e)): the
 * daily `audit.prune` job, on the register's `retention.auditLog` duration,
 * removes nothing of a tenant while any of its holds is active.
 */
let avow: TestAvow;

beforeAll(async () => {
  avow = await startTestAvow();
});
afterAll(async () => avow?.close());

type Entry = { id: string; action: string; outcome: string; payload: Record<string, unknown> };
type Hold = { id: string };

const reason = 'Litigation Virtanen v. Example Oy, case 2025/114: keep everything';

/**
 * A tenant whose register keeps the audit log 30 days, with 16 entries 60 days
 * old: one transaction each, so they reach every lane, and at least one lane
 * starts with them (a prune would take them).
 */
async function tenantWithOldLog() {
  const { tenantId, token } = await avow.tenantWithKey(['admin']);
  const api = client(avow, token);
  await api.publish({
    ...boundaryRegister,
    retention: { ...boundaryRegister.retention, auditLog: { duration: 'P30D' } },
  });
  const subjectId = await api.subject('held@example.com');
  const old = new Date(daysAgo(60));
  const history = createAuditService({
    db: avow.database.db,
    keyring: avow.services.keyring,
    subjectKeys: avow.services.subjectKeys,
    now: () => old,
  });
  for (let i = 0; i < 16; i += 1) {
    await history.record(avow.database.db, {
      tenantId,
      actor: { type: 'system', id: 'history' },
      action: 'subject.read',
      subjectId,
      categories: ['user.behavior'],
      outcome: 'success',
      payload: { count: i },
    });
  }
  return { tenantId, api, subjectId };
}

/** The tenant's whole log over HTTP, newest first. */
async function logOf(api: ReturnType<typeof client>): Promise<Entry[]> {
  const reply = await api.call<{ items: Entry[] }>('GET', '/v1/audit?limit=500');
  expect(reply.status, reply.text).toBe(200);
  return reply.body.items;
}

const pruneOutcomes = (log: Entry[]) => log.filter((e) => e.action.startsWith('audit.prune'));

/** Runs the scheduled job as the daily fan-out sends it, and waits for what it wrote. */
async function runPruneJob(tenantId: string, api: ReturnType<typeof client>): Promise<Entry> {
  const before = pruneOutcomes(await logOf(api)).length;
  await avow.services.jobs.send('audit.prune', { tenantId }, { singletonKey: tenantId });
  for (let i = 0; i < 150; i += 1) {
    const outcomes = pruneOutcomes(await logOf(api));
    if (outcomes.length > before) return outcomes[0] as Entry;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error('the audit.prune job wrote no outcome');
}

const oldEntries = (log: Entry[]) =>
  log.filter((e) => e.action === 'subject.read').map((e) => e.id);

describe('audit log prune under a legal hold', () => {
  it('a tenant hold keeps the whole log and the log says which hold; released, the job prunes', async () => {
    const { tenantId, api } = await tenantWithOldLog();
    const placed = await api.call<Hold>('POST', '/v1/legal-holds', { scope: 'tenant', reason });
    expect(placed.status, placed.text).toBe(201);
    const before = oldEntries(await logOf(api));
    expect(before).toHaveLength(16);

    const held = await runPruneJob(tenantId, api);
    expect(held).toMatchObject({
      action: 'audit.prune_held',
      outcome: 'denied',
      actor: { type: 'system', id: 'retention' },
      payload: { holds: [placed.body.id], count: 1 },
    });
    // The hold's reason is an operator's free text: named by id, not copied.
    expect(JSON.stringify(held)).not.toContain('Virtanen');
    expect(oldEntries(await logOf(api))).toEqual(before);
    const verified = await api.call<{ ok: boolean }>('GET', '/v1/audit/verify');
    expect(verified.body.ok).toBe(true);

    const released = await api.call('POST', `/v1/legal-holds/${placed.body.id}/release`, {
      reason: 'case settled',
    });
    expect(released.status, released.text).toBe(200);
    const pruned = await runPruneJob(tenantId, api);
    expect(pruned.action).toBe('audit.pruned');
    expect(pruned.payload.removed).toBeGreaterThan(0);
    expect(oldEntries(await logOf(api)).length).toBeLessThan(16);
    expect((await api.call<{ ok: boolean }>('GET', '/v1/audit/verify')).body.ok).toBe(true);
  });

  it.each([
    ['subject', (subjectId: string) => subjectId],
    ['category', () => 'user.behavior'],
  ] as const)(
    'a %s hold keeps the whole log too: a lane cannot lose entries from its middle',
    async (scope, target) => {
      const { tenantId, api, subjectId } = await tenantWithOldLog();
      const placed = await api.call<Hold>('POST', '/v1/legal-holds', {
        scope,
        target: target(subjectId),
        reason,
      });
      expect(placed.status, placed.text).toBe(201);
      const before = oldEntries(await logOf(api));

      const held = await runPruneJob(tenantId, api);
      expect(held).toMatchObject({
        action: 'audit.prune_held',
        payload: { holds: [placed.body.id] },
      });
      expect(oldEntries(await logOf(api))).toEqual(before);
    },
  );
});
