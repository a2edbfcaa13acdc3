import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAggregates } from '../../src/retention/retention-store.js';
import { startTestAvow, type TestAvow } from '../support/avow.js';
import { boundaryRegister, client } from './support.js';

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

describe('retention: anonymise', () => {
  it('a sweep removes anonymised records and leaves a count per category, source and month', async () => {
    const subject = await api.subject('device@example.com');
    const [old, older, recent] = await api.records(subject, [
      { category: 'user.device', purposes: ['analytics'], collectedAt: '2012-03-05T10:00:00.000Z' },
      { category: 'user.device', purposes: ['analytics'], collectedAt: '2012-03-20T10:00:00.000Z' },
      { category: 'user.device', purposes: ['analytics'], collectedAt: '2024-03-20T10:00:00.000Z' },
    ]);
    const run = await api.sweep();
    expect(run.report.rules.find((r) => r.rule === 'devices')).toMatchObject({
      action: 'anonymize',
      due: 2,
    });
    expect((await api.view(subject)).records.map((r) => r.id)).toEqual([recent]);
    expect([old, older]).not.toContain(recent);
    expect(await listAggregates(avow.database.db, tenantId)).toEqual([
      { category: 'user.device', source: 'subject', period: '2012-03-01', records: 2 },
    ]);
    // A second sweep finds nothing more and counts nothing twice.
    expect((await api.sweep()).report.total).toBe(0);
    expect((await listAggregates(avow.database.db, tenantId))[0]?.records).toBe(2);
  });
});
