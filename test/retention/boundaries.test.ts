import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAvow, type TestAvow } from '../support/avow.js';
import { boundaryRegister, client } from './support.js';

let avow: TestAvow;
let api: ReturnType<typeof client>;

beforeAll(async () => {
  avow = await startTestAvow();
  const { token } = await avow.tenantWithKey(['admin']);
  api = client(avow, token);
  await api.publish(boundaryRegister);
});
afterAll(async () => avow.close());

const ids = (items: { recordId: string }[]) => new Set(items.map((i) => i.recordId));

describe('retention boundaries: due when now >= trigger + duration (calendar, UTC)', () => {
  it('P1M from 31 January is due at the same time on 28 February, not a millisecond before', async () => {
    const subject = await api.subject('jan31@example.com');
    const [jan31, jan30, feb28, mar31] = await api.records(subject, [
      {
        category: 'user.behavior',
        purposes: ['analytics'],
        collectedAt: '2025-01-31T10:00:00.000Z',
      },
      {
        category: 'user.behavior',
        purposes: ['analytics'],
        collectedAt: '2025-01-30T10:00:00.000Z',
      },
      {
        category: 'user.behavior',
        purposes: ['analytics'],
        collectedAt: '2025-02-28T10:00:00.000Z',
      },
      {
        category: 'user.behavior',
        purposes: ['analytics'],
        collectedAt: '2025-03-31T23:59:59.000Z',
      },
    ]);

    const before = await api.preview('2025-02-28T09:59:59.999Z');
    expect(ids(before.items).has(jan31 as string)).toBe(false);
    expect(ids(before.items).has(jan30 as string)).toBe(false);

    const at = await api.preview('2025-02-28T10:00:00.000Z');
    expect(ids(at.items)).toEqual(new Set([jan31, jan30]));
    const item = at.items.find((i) => i.recordId === jan31);
    expect(item).toMatchObject({
      rule: 'usage',
      action: 'delete',
      trigger: 'collected',
      dueAt: '2025-02-28T10:00:00.000Z',
      subjectId: subject,
    });

    // 28 February + P1M is 28 March (not the end of March); 31 March + P1M is 30 April.
    const march = await api.preview('2025-03-28T10:00:00.000Z');
    expect(ids(march.items).has(feb28 as string)).toBe(true);
    const april = await api.preview('2025-04-30T23:59:58.999Z');
    expect(ids(april.items).has(mar31 as string)).toBe(false);
    const april2 = await api.preview('2025-04-30T23:59:59.000Z');
    expect(ids(april2.items).has(mar31 as string)).toBe(true);
  });

  it('P10Y from 29 February lands on 28 February ten years on; anonymised per rule', async () => {
    const subject = await api.subject('leap@example.com');
    const [leap] = await api.records(subject, [
      { category: 'user.device', purposes: ['analytics'], collectedAt: '2016-02-29T00:00:00.000Z' },
    ]);
    expect(ids((await api.preview('2026-02-27T23:59:59.999Z')).items).has(leap as string)).toBe(
      false,
    );
    const due = await api.preview('2026-02-28T00:00:00.000Z');
    expect(due.items.find((i) => i.recordId === leap)).toMatchObject({
      rule: 'devices',
      action: 'anonymize',
      dueAt: '2026-02-28T00:00:00.000Z',
    });
  });

  it('relationship end + P6M; a statutory keep holds financial data ten years; records of no rule are never listed', async () => {
    const subject = await api.subject('ended@example.com', 'customer', {
      relationshipEndedAt: '2024-08-31T12:00:00.000Z',
    });
    const [name, financial, email] = await api.records(subject, [
      { category: 'user.name', purposes: ['service'], collectedAt: '2020-01-01T00:00:00.000Z' },
      {
        category: 'user.financial',
        purposes: ['service'],
        collectedAt: '2020-01-01T00:00:00.000Z',
      },
      {
        category: 'user.contact.email',
        purposes: ['service', 'newsletter'],
        collectedAt: '2020-01-01T00:00:00.000Z',
      },
    ]);
    // 31 August + 6 months = 28 February.
    const before = await api.preview('2025-02-28T11:59:59.999Z');
    expect(before.items.filter((i) => i.subjectId === subject)).toEqual([]);
    const after = await api.preview('2025-02-28T12:00:00.000Z');
    const mine = after.items.filter((i) => i.subjectId === subject);
    expect(mine.map((i) => i.recordId).sort()).toEqual([name].sort());
    expect(mine[0]).toMatchObject({ rule: 'accounts', trigger: 'relationship_end' });
    // The e-mail also serves the newsletter, whose consent was never withdrawn: kept.
    expect(ids(after.items).has(email as string)).toBe(false);
    // The financial record is reached by the rule but kept by the statutory keep.
    expect(ids(after.items).has(financial as string)).toBe(false);
    const accounts = after.report.rules.find((r) => r.rule === 'accounts');
    expect(accounts?.categories.find((c) => c.category === 'user.financial')).toMatchObject({
      due: 0,
      kept: 1,
    });
    const tenYears = await api.preview('2034-08-31T12:00:00.000Z');
    expect(ids(tenYears.items).has(financial as string)).toBe(true);
  });

  it('a dry run changes nothing and stores no report', async () => {
    const subject = await api.subject('dry@example.com');
    await api.records(subject, [
      {
        category: 'user.behavior',
        purposes: ['analytics'],
        collectedAt: '2020-01-01T00:00:00.000Z',
      },
    ]);
    const before = await api.view(subject);
    const preview = await api.preview();
    expect(preview.items.some((i) => i.subjectId === subject)).toBe(true);
    expect((await api.view(subject)).records).toEqual(before.records);
    const runs = await api.call<{ items: unknown[] }>('GET', '/v1/retention/runs');
    expect(runs.body.items).toEqual([]);
  });

  it('refuses asOf on a real run and an unknown hold scope, with the field named', async () => {
    const reply = await api.call<{ error: { code: string; details: { path: string }[] } }>(
      'POST',
      '/v1/retention/runs',
      { asOf: '2030-01-01T00:00:00Z' },
    );
    expect(reply.status).toBe(400);
    expect(reply.body.error.details[0]?.path).toBe('body.asOf');
    const hold = await api.call<{ error: { code: string } }>('POST', '/v1/legal-holds', {
      scope: 'everything',
      reason: 'x',
    });
    expect(hold.status).toBe(400);
  });
});
