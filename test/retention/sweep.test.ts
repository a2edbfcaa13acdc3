import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRetentionService } from '../../src/retention/retention-service.js';
import { startTestAvow, type TestAvow } from '../support/avow.js';
import { boundaryRegister, client, daysAgo, type Run } from './support.js';

let avow: TestAvow;
let api: ReturnType<typeof client>;
let tenantId: string;

beforeAll(async () => {
  avow = await startTestAvow();
  const tenant = await avow.tenantWithKey(['admin']);
  tenantId = tenant.tenantId;
  api = client(avow, tenant.token);
  await api.publish(boundaryRegister);
});
afterAll(async () => avow.close());

type Hold = { id: string; scope: string; target: string | null; releasedAt: string | null };
type AuditPage = {
  items: { action: string; subjectId: string | null; payload: Record<string, unknown> }[];
};

describe('retention: done when (old data, preview, hold, sweep, report, audit)', () => {
  it('removes exactly the due records, respects holds, reports and audits, and a second sweep finds nothing', async () => {
    // Usage data: P1M after collection. One just outside the limit, one just inside.
    const anna = await api.subject('anna@example.com');
    const [annaOld, annaNew, annaName] = await api.records(anna, [
      { category: 'user.behavior', purposes: ['analytics'], collectedAt: daysAgo(40) },
      { category: 'user.behavior', purposes: ['analytics'], collectedAt: daysAgo(20) },
      { category: 'user.name', purposes: ['service'], collectedAt: daysAgo(400) },
    ]);
    const held = await api.subject('held@example.com');
    const [heldOld] = await api.records(held, [
      { category: 'user.behavior', purposes: ['analytics'], collectedAt: daysAgo(40) },
    ]);
    // A customer whose relationship ended 200 days ago: accounts rule (P6M) reached; financial data under the statutory keep.
    const gone = await api.subject('gone@example.com', 'customer', {
      relationshipEndedAt: daysAgo(200),
    });
    const [goneName, goneFinancial] = await api.records(gone, [
      { category: 'user.name', purposes: ['service'], collectedAt: daysAgo(900) },
      { category: 'user.financial', purposes: ['service'], collectedAt: daysAgo(900) },
    ]);
    // Relationship ended, nothing kept: the subject goes as a whole (key destroyed).
    const erased = await api.subject('erased@example.com', 'customer', {
      relationshipEndedAt: daysAgo(200),
    });
    await api.records(erased, [
      { category: 'user.name', purposes: ['service'], collectedAt: daysAgo(900) },
    ]);

    const preview = await api.preview();
    const listed = new Set(preview.items.map((i) => i.recordId));
    expect(listed).toEqual(
      new Set([
        annaOld,
        heldOld,
        goneName,
        ...preview.items.filter((i) => i.subjectId === erased).map((i) => i.recordId),
      ]),
    );
    expect(listed.has(annaNew as string)).toBe(false);
    expect(listed.has(goneFinancial as string)).toBe(false);

    const hold = await api.call<Hold>('POST', '/v1/legal-holds', {
      scope: 'subject',
      target: held,
      reason: 'Litigation 2025-17',
    });
    expect(hold.status, hold.text).toBe(201);
    expect(hold.body.id).toMatch(/^hold_/);
    const afterHold = await api.preview();
    expect(afterHold.items.some((i) => i.recordId === heldOld)).toBe(false);
    expect(afterHold.report.held).toBe(1);

    const run = await api.sweep();
    expect(run.id).toMatch(/^ret_/);
    expect(run.status).toBe('completed');
    expect(run.report).toMatchObject({ dryRun: false, total: 3, held: 1, subjectsErased: 1 });
    const usage = run.report.rules.find((r) => r.rule === 'usage');
    expect(usage?.categories).toEqual([{ category: 'user.behavior', due: 1, held: 1, kept: 0 }]);
    const accounts = run.report.rules.find((r) => r.rule === 'accounts');
    expect(accounts?.categories).toEqual([
      { category: 'user.financial', due: 0, held: 0, kept: 1 },
      { category: 'user.name', due: 2, held: 0, kept: 0 },
    ]);

    expect((await api.view(anna)).records.map((r) => r.id).sort()).toEqual(
      [annaNew, annaName].sort(),
    );
    expect((await api.view(held)).records.map((r) => r.id)).toEqual([heldOld]);
    expect((await api.view(gone)).records.map((r) => r.id)).toEqual([goneFinancial]);
    expect((await api.view(gone)).subject.status).toBe('active');
    expect((await api.view(erased)).subject.status).toBe('erased');
    const key = await avow.services.subjectKeys.get(avow.database.db, tenantId, erased);
    expect(key.state).toBe('destroyed');

    const stored = await api.call<Run>('GET', `/v1/retention/runs/${run.id}`);
    expect(stored.body.report).toEqual(run.report);
    const listedRuns = await api.call<{ items: Run[] }>('GET', '/v1/retention/runs');
    expect(listedRuns.body.items.map((r) => r.id)).toEqual([run.id]);

    const audit = await api.call<AuditPage>(
      'GET',
      '/v1/audit?action=retention.swept,subject.erased,legal_hold.created',
    );
    expect(audit.status, audit.text).toBe(200);
    const swept = audit.body.items.filter((e) => e.action === 'retention.swept');
    expect(
      swept.map((e) => e.payload).sort((a, b) => String(a.rule).localeCompare(String(b.rule))),
    ).toEqual([
      {
        rule: 'accounts',
        removed: 2,
        runId: run.id,
        categories: { 'user.name': 2 },
        subjectsErased: 1,
      },
      {
        rule: 'usage',
        removed: 1,
        runId: run.id,
        categories: { 'user.behavior': 1 },
        subjectsErased: 0,
      },
    ]);
    expect(
      audit.body.items.filter((e) => e.action === 'subject.erased').map((e) => e.subjectId),
    ).toEqual([erased]);
    expect(
      audit.body.items.some(
        (e) => e.action === 'legal_hold.created' && e.payload.holdId === hold.body.id,
      ),
    ).toBe(true);

    // Safe to run twice.
    const again = await api.sweep();
    expect(again.report).toMatchObject({ total: 0, held: 1, subjectsErased: 0 });

    // Released, the next sweep applies the rule.
    const released = await api.call<Hold>('POST', `/v1/legal-holds/${hold.body.id}/release`, {
      reason: 'Settled',
    });
    expect(released.status, released.text).toBe(200);
    expect(released.body.releasedAt).not.toBeNull();
    const twice = await api.call('POST', `/v1/legal-holds/${hold.body.id}/release`, {});
    expect(twice.status).toBe(409);
    const third = await api.sweep();
    expect(third.report.total).toBe(1);
    expect((await api.view(held)).records).toEqual([]);
  });

  it('category and tenant holds keep everything they cover', async () => {
    const s = await api.subject('cat@example.com');
    const [behaviour] = await api.records(s, [
      { category: 'user.behavior', purposes: ['analytics'], collectedAt: daysAgo(60) },
    ]);
    const category = await api.call<Hold>('POST', '/v1/legal-holds', {
      scope: 'category',
      target: 'user.behavior',
      reason: 'Audit by the authority',
    });
    expect(category.status, category.text).toBe(201);
    const tenant = await api.call<Hold>('POST', '/v1/legal-holds', {
      scope: 'tenant',
      reason: 'Whole tenant under investigation',
    });
    expect(tenant.status, tenant.text).toBe(201);
    expect((await api.sweep()).report.total).toBe(0);
    await api.call('POST', `/v1/legal-holds/${tenant.body.id}/release`, {});
    expect((await api.sweep()).report.total).toBe(0);
    expect((await api.view(s)).records.map((r) => r.id)).toEqual([behaviour]);
    const active = await api.call<{ items: Hold[] }>('GET', '/v1/legal-holds?active=true');
    expect(active.body.items.map((h) => h.id)).toEqual([category.body.id]);
    await api.call('POST', `/v1/legal-holds/${category.body.id}/release`, {});
    expect((await api.sweep()).report.total).toBe(1);

    const unknown = await api.call<{ error: { details: { path: string }[] } }>(
      'POST',
      '/v1/legal-holds',
      { scope: 'category', target: 'user.health', reason: 'x' },
    );
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.details[0]?.path).toBe('body.target');
  });

  /** A tenant of its own whose register pseudonymises subjects with device records older than a month. */
  async function pseudonymizingDevices() {
    const other = await avow.tenantWithKey(['admin']);
    const own = client(avow, other.token);
    const rules = boundaryRegister.retention.rules.map((rule) =>
      rule.key === 'devices' ? { ...rule, duration: 'P1M', action: 'pseudonymize' } : rule,
    );
    await own.publish({ ...boundaryRegister, retention: { ...boundaryRegister.retention, rules } });
    return { other, own };
  }

  it('a pseudonymize rule leaves alone a subject a hold reaches through another category', async () => {
    const { own } = await pseudonymizingDevices();
    // Both have a device record the rule reached; one also has a name under a category hold.
    const held = await own.subject('pseudo-held@example.com');
    await own.records(held, [
      { category: 'user.device', purposes: ['analytics'], collectedAt: daysAgo(60) },
      { category: 'user.name', purposes: ['service'], collectedAt: daysAgo(5) },
    ]);
    const free = await own.subject('pseudo-free@example.com');
    await own.records(free, [
      { category: 'user.device', purposes: ['analytics'], collectedAt: daysAgo(60) },
    ]);
    const hold = await own.call<Hold>('POST', '/v1/legal-holds', {
      scope: 'category',
      target: 'user.name',
      reason: 'Dispute over the account holder',
    });
    expect(hold.status, hold.text).toBe(201);

    const run = await own.sweep();
    expect(run.status).toBe('completed');
    expect(run.report).toMatchObject({ total: 1, held: 1, subjectsPseudonymized: 1 });
    expect(run.report.rules.find((r) => r.rule === 'devices')).toMatchObject({ due: 1, held: 1 });
    expect((await own.view(free)).subject.status).toBe('pseudonymized');
    // Erasure would refuse this subject; so does pseudonymisation, which deletes its identities.
    expect((await own.view(held)).subject.status).toBe('active');
    const found = await own.call<{ id: string }>('POST', '/v1/subjects/lookup', {
      kind: 'email',
      value: 'pseudo-held@example.com',
    });
    expect(found.status).toBe(200);
    expect(found.body.id).toBe(held);

    await own.call('POST', `/v1/legal-holds/${hold.body.id}/release`, {});
    expect((await own.sweep()).report).toMatchObject({ held: 0, subjectsPseudonymized: 1 });
    expect((await own.view(held)).subject.status).toBe('pseudonymized');
  });

  it('a sweep that fails part-way stores what its committed batches removed', async () => {
    const { other, own } = await pseudonymizingDevices();
    const s = await own.subject('fails-midway@example.com');
    await own.records(s, [
      { category: 'user.behavior', purposes: ['analytics'], collectedAt: daysAgo(60) },
      { category: 'user.device', purposes: ['analytics'], collectedAt: daysAgo(60) },
    ]);
    // The same service the app builds, on the same database, whose process dies
    // (here: throws) when it reaches pseudonymisation, after the delete batch committed.
    const { policies, audit } = avow.services;
    const failing = createRetentionService({
      db: avow.database.db,
      policies,
      audit,
      vault: {
        pseudonymizeUnlessHeld: async () => {
          throw new Error('the process stopped');
        },
      },
    });
    await expect(
      failing.run({ actor: { type: 'system', id: 'test' } }, other.tenantId),
    ).rejects.toThrow('the process stopped');
    const runs = await own.call<{ items: Run[] }>('GET', '/v1/retention/runs');
    const failed = runs.body.items[0];
    expect(failed?.status).toBe('failed');
    expect(failed?.report).toMatchObject({ total: 1, subjectsPseudonymized: 0 });
    expect(failed?.report.rules.find((r) => r.rule === 'usage')).toMatchObject({ due: 1 });
    expect((await own.view(s)).records.map((r) => r.category)).toEqual(['user.device']);
  });

  /**
   * A tenant of its own whose register has only these retention rules, and a
   * subject with two e-mail records: one the contract and the newsletter share,
   * one for the newsletter alone.
   */
  async function sharedAddress(rules: (typeof boundaryRegister.retention.rules)[number][]) {
    const other = await avow.tenantWithKey(['admin']);
    const own = client(avow, other.token);
    await own.publish({ ...boundaryRegister, retention: { ...boundaryRegister.retention, rules } });
    const s = await own.subject('shared@example.com');
    const [shared, newsletterOnly] = await own.records(s, [
      {
        category: 'user.contact.email',
        purposes: ['service', 'newsletter'],
        collectedAt: daysAgo(5),
      },
      { category: 'user.contact.email', purposes: ['newsletter'], collectedAt: daysAgo(5) },
    ]);
    return { own, s, shared, newsletterOnly };
  }

  it('a hold reason up to the audit log’s limit is placed and released with its audit entries; a longer one is a 400 naming the field', async () => {
    const reason = 'r'.repeat(1000);
    const hold = await api.call<Hold>('POST', '/v1/legal-holds', { scope: 'tenant', reason });
    expect(hold.status, hold.text).toBe(201);
    const released = await api.call<Hold>('POST', `/v1/legal-holds/${hold.body.id}/release`, {
      reason,
    });
    expect(released.status, released.text).toBe(200);
    const audit = await api.call<AuditPage>(
      'GET',
      '/v1/audit?action=legal_hold.created,legal_hold.released',
    );
    const entries = audit.body.items.filter((i) => i.payload.holdId === hold.body.id);
    expect(entries.map((e) => [e.action, (e.payload.reason as string).length])).toEqual([
      ['legal_hold.released', 1000],
      ['legal_hold.created', 1000],
    ]);

    const long = 'r'.repeat(1001);
    type Refusal = { error: { code: string; details: { path: string; message: string }[] } };
    const tooLong = await api.call<Refusal>('POST', '/v1/legal-holds', {
      scope: 'tenant',
      reason: long,
    });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error.code).toBe('validation_failed');
    expect(tooLong.body.error.details).toEqual([
      { path: 'body.reason', message: expect.stringContaining('1000') },
    ]);
    const other = await api.call<Hold>('POST', '/v1/legal-holds', { scope: 'tenant', reason: 'x' });
    const releaseTooLong = await api.call<Refusal>(
      'POST',
      `/v1/legal-holds/${other.body.id}/release`,
      { reason: long },
    );
    expect(releaseTooLong.status).toBe(400);
    expect(releaseTooLong.body.error.details[0]?.path).toBe('body.reason');
    // Nothing placed by the refused request; the other hold is still active (released below).
    const active = await api.call<{ items: Hold[] }>('GET', '/v1/legal-holds?active=true');
    await api.call('POST', `/v1/legal-holds/${other.body.id}/release`, {});
    expect(active.body.items.map((h) => h.id)).toEqual([other.body.id]);
  });

  it('a record that also serves a purpose with no retention rule stays when another purpose ends', async () => {
    // The register gives the contract purpose no rule: nothing sets an end to that use.
    const { own, s, shared, newsletterOnly } = await sharedAddress(
      boundaryRegister.retention.rules.filter((rule) => rule.key !== 'accounts'),
    );
    for (const action of ['given', 'withdrawn']) {
      const event = await own.call('POST', '/v1/consent/events', {
        subjectId: s,
        purposes: [{ purpose: 'newsletter', action }],
      });
      expect(event.status, event.text).toBe(201);
    }
    const preview = await own.preview();
    expect(preview.items.map((i) => i.recordId)).toEqual([newsletterOnly]);
    expect((await own.sweep()).report.total).toBe(1);
    expect((await own.view(s)).records.map((r) => r.id)).toEqual([shared]);
  });

  it('an objection rule runs out only when every purpose the record serves is objected to', async () => {
    const { own, s, shared, newsletterOnly } = await sharedAddress([
      {
        key: 'objected',
        categories: ['user.contact.email'],
        duration: 'P0D',
        trigger: 'objection',
        action: 'delete',
      },
    ]);
    const object = async (purpose: string) => {
      const event = await own.call('POST', '/v1/consent/events', {
        subjectId: s,
        purposes: [{ purpose, action: 'objected' }],
      });
      expect(event.status, event.text).toBe(201);
    };
    await object('newsletter');
    // The service purpose has no state at all: not objected to.
    expect((await own.preview()).items.map((i) => i.recordId)).toEqual([newsletterOnly]);
    // Nor with a state row for it that holds no objection (a fulfilment taken back).
    const taken = await own.call('PATCH', `/v1/subjects/${s}`, {
      fulfilledPurposes: { service: daysAgo(400) },
    });
    expect(taken.status, taken.text).toBe(200);
    await own.call('PATCH', `/v1/subjects/${s}`, { fulfilledPurposes: { service: null } });
    expect((await own.preview()).items.map((i) => i.recordId)).toEqual([newsletterOnly]);
    await object('service');
    expect(new Set((await own.preview()).items.map((i) => i.recordId))).toEqual(
      new Set([shared, newsletterOnly]),
    );
  });

  it('a key without the retention scope is refused; another tenant sees none of it', async () => {
    const narrow = await avow.tenantWithKey(['vault:read']);
    const refused = await avow.call('POST', '/v1/retention/runs', {
      token: narrow.token,
      body: { dryRun: true },
    });
    expect(refused.status).toBe(403);
    const other = await avow.tenantWithKey(['retention']);
    const runs = await avow.call<{ items: unknown[] }>('GET', '/v1/retention/runs', {
      token: other.token,
    });
    expect(runs.status).toBe(200);
    expect(runs.body.items).toEqual([]);
    const mine = await api.call<{ items: Run[] }>('GET', '/v1/retention/runs');
    const foreign = await avow.call('GET', `/v1/retention/runs/${mine.body.items[0]?.id}`, {
      token: other.token,
    });
    expect(foreign.status).toBe(404);
  });

  it('the scheduled job sweeps a tenant through the queue', async () => {
    const s = await api.subject('job@example.com');
    await api.records(s, [
      { category: 'user.behavior', purposes: ['analytics'], collectedAt: daysAgo(90) },
    ]);
    const before = (await api.call<{ items: Run[] }>('GET', '/v1/retention/runs')).body.items
      .length;
    await avow.services.jobs.send('retention.sweep', { tenantId }, { singletonKey: tenantId });
    let runs: Run[] = [];
    // Wait for the new run to finish, not merely to appear.
    for (let i = 0; i < 100 && (runs.length <= before || runs[0]?.status === 'running'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      runs = (await api.call<{ items: Run[] }>('GET', '/v1/retention/runs')).body.items;
    }
    expect(runs[0]).toMatchObject({ status: 'completed', startedBy: 'system:retention' });
    expect(runs[0]?.report.total).toBe(1);
    expect((await api.view(s)).records).toEqual([]);
    const jobs = await avow.call<{ schedules: { name: string }[] }>('GET', '/v1/jobs');
    expect(jobs.body.schedules.map((x) => x.name)).toEqual(
      expect.arrayContaining(['retention.daily', 'audit.checkpoint']),
    );
  });
});
