import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAvow, type TestAvow } from '../support/avow.js';
import { activateTestRegister } from './support.js';

type ErrorBody = { error: { code: string; details?: { message: string }[] } };

let avow: TestAvow;
let token: string;

beforeAll(async () => {
  avow = await startTestAvow();
  const tenant = await avow.tenantWithKey(['vault:read', 'vault:write', 'retention']);
  token = tenant.token;
  await activateTestRegister(avow, tenant.tenantId);
});
afterAll(async () => avow.close());

async function subjectWithEmail(email: string): Promise<string> {
  const created = await avow.call<{ subject: { id: string } }>('POST', '/v1/subjects', {
    token,
    body: { kind: 'customer', identities: [{ kind: 'email', value: email }] },
  });
  expect(created.status).toBe(201);
  const id = created.body.subject.id;
  const written = await avow.call('POST', `/v1/subjects/${id}/records`, {
    token,
    body: {
      records: [
        {
          category: 'user.financial',
          value: 'IBAN FI00 1234',
          source: 'subject',
          purposes: ['service'],
        },
      ],
    },
  });
  expect(written.status).toBe(201);
  return id;
}

describe('erasure under a legal hold', () => {
  it('refuses to erase a held subject, names the hold, and erases once it is released', async () => {
    const subjectId = await subjectWithEmail('held@example.com');
    const hold = await avow.call<{ id: string }>('POST', '/v1/legal-holds', {
      token,
      body: { scope: 'subject', target: subjectId, reason: 'Case 17' },
    });
    expect(hold.status).toBe(201);

    const refused = await avow.call<ErrorBody>('POST', `/v1/subjects/${subjectId}/erase`, {
      token,
      body: {},
    });
    expect(refused.status).toBe(409);
    expect(refused.body.error.details?.[0]?.message).toContain(hold.body.id);
    expect(refused.body.error.details?.[0]?.message).toContain('Case 17');
    const still = await avow.call<{ subject: { status: string } }>(
      'GET',
      `/v1/subjects/${subjectId}`,
      {
        token,
      },
    );
    expect(still.body.subject.status).toBe('active');

    await avow.call('POST', `/v1/legal-holds/${hold.body.id}/release`, { token, body: {} });
    const erased = await avow.call('POST', `/v1/subjects/${subjectId}/erase`, { token, body: {} });
    expect(erased.status).toBe(200);
  });

  it('refuses when a held category holds the subject’s records, not otherwise', async () => {
    const held = await subjectWithEmail('ledger@example.com');
    const hold = await avow.call<{ id: string }>('POST', '/v1/legal-holds', {
      token,
      body: { scope: 'category', target: 'user.financial', reason: 'Tax audit' },
    });
    expect(
      (await avow.call('POST', `/v1/subjects/${held}/erase`, { token, body: {} })).status,
    ).toBe(409);

    const unrelated = await avow.call<{ subject: { id: string } }>('POST', '/v1/subjects', {
      token,
      body: { kind: 'customer', identities: [{ kind: 'email', value: 'free@example.com' }] },
    });
    expect(
      (
        await avow.call('POST', `/v1/subjects/${unrelated.body.subject.id}/erase`, {
          token,
          body: {},
        })
      ).status,
    ).toBe(200);
    await avow.call('POST', `/v1/legal-holds/${hold.body.id}/release`, { token, body: {} });
  });
});

async function subjectWithName(email: string): Promise<string> {
  const created = await avow.call<{ subject: { id: string } }>('POST', '/v1/subjects', {
    token,
    body: { kind: 'customer', identities: [{ kind: 'email', value: email }] },
  });
  expect(created.status, created.text).toBe(201);
  const id = created.body.subject.id;
  const written = await avow.call('POST', `/v1/subjects/${id}/records`, {
    token,
    body: {
      records: [
        { category: 'user.name', value: 'Held Name', source: 'subject', purposes: ['service'] },
      ],
    },
  });
  expect(written.status, written.text).toBe(201);
  return id;
}

describe('pseudonymisation under a legal hold', () => {
  it('refuses under a subject hold, like erasure, and keeps the identities', async () => {
    const subjectId = await subjectWithName('pseudo-held@example.com');
    const hold = await avow.call<{ id: string }>('POST', '/v1/legal-holds', {
      token,
      body: { scope: 'subject', target: subjectId, reason: 'Case 18' },
    });
    expect(hold.status).toBe(201);

    const refused = await avow.call<ErrorBody>('POST', `/v1/subjects/${subjectId}/pseudonymize`, {
      token,
      body: {},
    });
    expect(refused.status).toBe(409);
    expect(refused.body.error.details?.[0]?.message).toContain(hold.body.id);
    const found = await avow.call<{ id: string; status: string }>('POST', '/v1/subjects/lookup', {
      token,
      body: { kind: 'email', value: 'pseudo-held@example.com' },
    });
    expect(found.status).toBe(200);
    expect(found.body).toMatchObject({ id: subjectId, status: 'active' });

    await avow.call('POST', `/v1/legal-holds/${hold.body.id}/release`, { token, body: {} });
    const done = await avow.call('POST', `/v1/subjects/${subjectId}/pseudonymize`, {
      token,
      body: {},
    });
    expect(done.status).toBe(200);
  });

  it('keeps the records of a held category whatever the caller names, and says why', async () => {
    const subjectId = await subjectWithName('pseudo-category@example.com');
    const hold = await avow.call<{ id: string }>('POST', '/v1/legal-holds', {
      token,
      body: { scope: 'category', target: 'user.name', reason: 'Dispute 9' },
    });
    expect(hold.status).toBe(201);

    const done = await avow.call<{
      recordsDeleted: number;
      retained: { category: string; reason: string }[];
    }>('POST', `/v1/subjects/${subjectId}/pseudonymize`, { token, body: { keepCategories: [] } });
    expect(done.status, done.text).toBe(200);
    expect(done.body.recordsDeleted).toBe(0);
    expect(done.body.retained).toEqual([
      { category: 'user.name', reason: `legal hold ${hold.body.id}: Dispute 9` },
    ]);
    const shown = await avow.call<{ records: { category: string }[] }>(
      'GET',
      `/v1/subjects/${subjectId}`,
      { token },
    );
    expect(shown.body.records.map((r) => r.category)).toEqual(['user.name']);
    await avow.call('POST', `/v1/legal-holds/${hold.body.id}/release`, { token, body: {} });
  });
});
