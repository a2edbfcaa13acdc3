import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAvow, type TestAvow } from '../support/avow.js';
import { client, daysAgo, exampleRegister } from './support.js';

let avow: TestAvow;
beforeAll(async () => {
  avow = await startTestAvow();
});
afterAll(async () => avow.close());

async function seedTenant(name: string) {
  const tenant = await avow.tenantWithKey(['admin']);
  const api = client(avow, tenant.token);
  await api.publish(exampleRegister(name));
  return { ...tenant, api };
}

const DAY = 86_400_000;
/** The same instant `years` calendar years earlier, moved by `days`. */
function yearsAgo(years: number, days: number): string {
  const at = new Date();
  at.setUTCFullYear(at.getUTCFullYear() - years);
  return new Date(at.getTime() + days * DAY).toISOString();
}
function monthsAgo(months: number, days: number): string {
  const at = new Date();
  const day = at.getUTCDate();
  at.setUTCDate(1);
  at.setUTCMonth(at.getUTCMonth() - months);
  at.setUTCDate(
    Math.min(day, new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 0)).getUTCDate()),
  );
  return new Date(at.getTime() + days * DAY).toISOString();
}

describe('seed registers (examples/registers)', () => {
  it('Aito: customer data ten years after the relationship ends, a day either side', async () => {
    const { api } = await seedTenant('aito');
    const outside = await api.subject('outside@aito.example', 'customer', {
      relationshipEndedAt: yearsAgo(10, -1),
    });
    const inside = await api.subject('inside@aito.example', 'customer', {
      relationshipEndedAt: yearsAgo(10, 1),
    });
    for (const s of [outside, inside]) {
      await api.records(s, [
        {
          category: 'user.contact.phone_number',
          purposes: ['customer_service'],
          collectedAt: yearsAgo(15, 0),
        },
        { category: 'user.payment', purposes: ['billing'], collectedAt: yearsAgo(15, 0) },
      ]);
    }
    const run = await api.sweep();
    expect(run.report.total).toBe(2);
    expect((await api.view(outside)).subject.status).toBe('erased');
    expect((await api.view(inside)).records).toHaveLength(2);
  });

  it('Viima: data up to 12 months after the plan is cancelled, a day either side', async () => {
    const { api } = await seedTenant('viima');
    const outside = await api.subject('outside@viima.example', 'customer.end_user', {
      contractEndedAt: monthsAgo(12, -1),
    });
    const inside = await api.subject('inside@viima.example', 'customer.end_user', {
      contractEndedAt: monthsAgo(12, 1),
    });
    for (const s of [outside, inside]) {
      await api.records(s, [
        { category: 'user.workplace', purposes: ['account'], collectedAt: yearsAgo(3, 0) },
      ]);
    }
    const preview = await api.preview();
    expect(preview.items.map((i) => i.subjectId)).toEqual([outside]);
    expect(preview.items[0]).toMatchObject({
      rule: 'after_cancellation',
      trigger: 'contract_end',
      action: 'delete',
    });
    expect((await api.sweep()).report.total).toBe(1);
    expect((await api.view(inside)).records).toHaveLength(1);
  });

  it('Aiwo: the tenant contract end removes customer data, except what the audit log keeps for two years', async () => {
    const ended = await seedTenant('aiwo');
    const running = await seedTenant('aiwo');
    const make = async (api: ReturnType<typeof client>, email: string) => {
      const s = await api.subject(email, 'customer.user');
      const [phone, name] = await api.records(s, [
        {
          category: 'user.contact.phone_number',
          purposes: ['service_access'],
          collectedAt: daysAgo(300),
        },
        { category: 'user.name', purposes: ['service_access'], collectedAt: daysAgo(300) },
      ]);
      return { s, phone, name };
    };
    const a = await make(ended.api, 'a@customer.example');
    const b = await make(running.api, 'b@customer.example');

    // Nothing is due while the contract runs.
    expect((await ended.api.preview()).report.total).toBe(0);
    const contractEnd = new Date(Date.now() - 3 * DAY).toISOString().slice(0, 10);
    const patched = await avow.call('PATCH', `/v1/tenants/${ended.tenantId}`, {
      body: { contractStart: '2020-01-01', contractEnd },
    });
    expect(patched.status, patched.text).toBe(200);

    const run = await ended.api.sweep();
    expect(run.report.total).toBe(1);
    expect(run.report.rules[0]?.categories).toEqual([
      { category: 'user.contact.phone_number', due: 1, held: 0, kept: 0 },
      { category: 'user.name', due: 0, held: 0, kept: 1 },
    ]);
    expect((await ended.api.view(a.s)).records.map((r) => r.id)).toEqual([a.name]);
    // Two years after the contract end, the audit-log keep ends too.
    const later = await ended.api.preview(
      new Date(Date.parse(`${contractEnd}T00:00:00Z`) + DAY + 731 * DAY).toISOString(),
    );
    expect(later.items.map((i) => i.recordId)).toEqual([a.name]);
    // The other tenant's identical data is untouched.
    expect((await running.api.sweep()).report.total).toBe(0);
    expect((await running.api.view(b.s)).records).toHaveLength(2);
  });

  it('Clevenio: data kept only as long as its purposes need it (purpose_fulfilled), purpose by purpose', async () => {
    const { api } = await seedTenant('clevenio');
    const s = await api.subject('lead@clevenio.example', 'customer.user');
    const [email, inquiry] = await api.records(s, [
      {
        category: 'user.contact.email',
        purposes: ['service', 'email_marketing'],
        collectedAt: daysAgo(30),
      },
      { category: 'user.content.inquiry', purposes: ['service'], collectedAt: daysAgo(30) },
    ]);
    const decide = async (purpose: string) => {
      const reply = await api.call<{ allowed: boolean; reasons: string[] }>(
        'POST',
        '/v1/decisions',
        { subjectId: s, purpose, categories: ['user.content.inquiry'] },
      );
      expect(reply.status, reply.text).toBe(200);
      return reply.body;
    };
    const fulfil = async (purposes: Record<string, string | null>) => {
      const reply = await api.call('PATCH', `/v1/subjects/${s}`, { fulfilledPurposes: purposes });
      expect(reply.status, reply.text).toBe(200);
    };
    expect(await decide('service')).toMatchObject({ allowed: true, reasons: [] });
    expect((await api.preview()).report.total).toBe(0);
    // Taking back a fulfilment that was never recorded leaves no state behind.
    await fulfil({ security: null });
    const none = await api.call<{ purposeStates: unknown[] }>('GET', `/v1/subjects/${s}`);
    expect(none.body.purposeStates).toEqual([]);

    // An unknown purpose is refused with the allowed ones, and nothing is written.
    const wrong = await api.call<{ error: { details: { path: string; message: string }[] } }>(
      'PATCH',
      `/v1/subjects/${s}`,
      { fulfilledPurposes: { service: daysAgo(1), newsletter: daysAgo(1) } },
    );
    expect(wrong.status, wrong.text).toBe(400);
    expect(wrong.body.error.details[0]?.path).toBe('body.fulfilledPurposes.newsletter');
    expect(wrong.body.error.details[0]?.message).toContain('email_marketing');
    expect(await decide('service')).toMatchObject({ allowed: true });

    // The inquiry is answered: the service purpose is done with this person.
    const done = daysAgo(1);
    await fulfil({ service: done });
    expect(await decide('service')).toMatchObject({
      allowed: false,
      reasons: ['purpose_fulfilled', 'retention_expired'],
    });
    // A batch (many subjects at once) reads the same state.
    const other = await api.subject('other@clevenio.example', 'customer.user');
    const batch = await api.call<{ results: { reasons: string[] }[] }>(
      'POST',
      '/v1/decisions/batch',
      { purpose: 'service', categories: ['user.content.inquiry'], subjectIds: [s, other] },
    );
    expect(batch.status, batch.text).toBe(200);
    expect(batch.body.results.map((r) => r.reasons)).toEqual([
      ['purpose_fulfilled', 'retention_expired'],
      [],
    ]);
    const view = await api.call<{ purposeStates: { purpose: string; fulfilledAt: string }[] }>(
      'GET',
      `/v1/subjects/${s}`,
    );
    expect(view.body.purposeStates).toMatchObject([{ purpose: 'service', fulfilledAt: done }]);
    // The e-mail address still serves email marketing; the inquiry served only the service.
    const preview = await api.preview();
    expect(preview.items).toMatchObject([
      { recordId: inquiry, rule: 'while_needed', trigger: 'purpose_fulfilled', action: 'delete' },
    ]);

    // Not fulfilled after all: the purpose runs again and nothing is due.
    await fulfil({ service: null });
    expect(await decide('service')).toMatchObject({ allowed: true });
    expect((await api.preview()).report.total).toBe(0);

    await fulfil({ service: done });
    expect((await api.sweep()).report.total).toBe(1);
    expect((await api.view(s)).records.map((r) => r.id)).toEqual([email]);
    // Once email marketing is done too, the address goes. Like consent and
    // objection triggers, a purpose's end is not the end of the person's
    // relationship: the subject itself stays.
    await fulfil({ email_marketing: daysAgo(0) });
    expect((await api.sweep()).report).toMatchObject({ total: 1, subjectsErased: 0 });
    expect((await api.view(s)).records).toEqual([]);

    const audit = await api.call<{ items: { action: string; payload: { fields?: string[] } }[] }>(
      'GET',
      `/v1/audit?subjectId=${s}&action=subject.updated`,
    );
    expect(audit.body.items.map((i) => i.payload.fields)).toContainEqual([
      'fulfilledPurposes.email_marketing',
    ]);
  });
});
