import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SignedReceipt, verifyReceipt } from '../../src/consent/receipts.js';
import * as consentErasure from '../../src/db/migrations/0014_consent_erasure.js';
import { startTestAvow, type TestAvow } from '../support/avow.js';
import { consentTenant, ledgerRows, newSubject } from './consent-fixture.js';

/**
 * Erasure reaches the consent ledger: what a person chose can no longer be
 * read back through the API, the derived state is gone, and the events and
 * receipts kept as evidence (Art. 7(1)) no longer hold their address or agent.
 */

type ErrorReply = { error: { code: string; details?: { path: string; message: string }[] } };

let avow: TestAvow;
beforeAll(async () => {
  avow = await startTestAvow();
});
afterAll(async () => {
  await avow.close();
});

const agent = 'Mozilla/5.0 (X11; Linux x86_64) ErasureTest/1.0';

/**
 * A person with a consent history: consent given over the API (with an
 * address and agent), a banner visitor linked to them, and a second subject
 * of theirs merged into them.
 */
async function personWithConsent() {
  const { tenantId, token, subjectId } = await consentTenant(avow);
  const record = async (holder: string, ip: string) => {
    const reply = await avow.call<{ receipt: SignedReceipt }>('POST', '/v1/consent/events', {
      token,
      body: {
        subjectId: holder,
        channel: 'form',
        purposes: [{ purpose: 'newsletter', action: 'given' }],
        ip,
        userAgent: agent,
      },
    });
    expect(reply.status, reply.text).toBe(201);
    return reply.body.receipt.receipt.consentReceiptID;
  };
  await record(subjectId, '203.0.113.7');
  const other = await newSubject(avow, token);
  await record(other, '198.51.100.9');
  const merged = await avow.call('POST', '/v1/subjects/merge', {
    token,
    body: { from: other, into: subjectId },
  });
  expect(merged.status, merged.text).toBe(200);
  const base = `/v1/public/tenants/${tenantId}/consent`;
  const chose = await avow.call<{ visitor: string; receiptIds: string[] }>('POST', base, {
    token: null,
    headers: { 'user-agent': agent },
    body: { choices: { analytics: true } },
  });
  expect(chose.status, chose.text).toBe(200);
  const visitorToken = chose.body.visitor;
  const visitorId = visitorToken.split('.')[0] ?? '';
  const linked = await avow.call('POST', `/v1/consent/visitors/${visitorId}/link`, {
    token,
    body: { subjectId },
  });
  expect(linked.status, linked.text).toBe(200);
  const receiptId = chose.body.receiptIds[0] ?? '';
  return { tenantId, token, subjectId, other, visitorId, visitorToken, receiptId, base };
}

/** What an erasure must leave: evidence without address or agent, no state, nothing readable. */
async function expectForgotten(person: Awaited<ReturnType<typeof personWithConsent>>) {
  const { tenantId, token, subjectId, other, visitorId, visitorToken, receiptId, base } = person;
  const holders = [subjectId, other, visitorId];

  // Through the API: the erased person is gone, whichever way they are named.
  const reads: [string, string][] = [
    [`/v1/consent/state?subjectId=${subjectId}`, 'querystring.subjectId'],
    [`/v1/consent/events?subjectId=${subjectId}`, 'querystring.subjectId'],
    [`/v1/consent/receipts?subjectId=${subjectId}`, 'querystring.subjectId'],
    [`/v1/consent/events?subjectId=${other}`, 'querystring.subjectId'],
    [`/v1/consent/state?visitorId=${visitorId}`, 'querystring.visitorId'],
    [`/v1/consent/events?visitorId=${visitorId}`, 'querystring.visitorId'],
    [`/v1/consent/receipts?visitorId=${visitorId}`, 'querystring.visitorId'],
    [`/v1/consent/receipts/${receiptId}`, 'params.receiptId'],
  ];
  for (const [path, param] of reads) {
    const reply = await avow.call<ErrorReply>('GET', path, { token });
    expect(reply.status, `${path}: ${reply.text}`).toBe(410);
    expect(reply.body.error.code).toBe('gone');
    expect(reply.body.error.details?.[0]?.path, path).toBe(param);
    expect(reply.text).not.toContain(agent);
  }
  // The visitor's own token reaches nothing either (the banner starts a stranger).
  const publicReceipt = await avow.call(
    'GET',
    `${base}/receipts/${receiptId}?visitor=${encodeURIComponent(visitorToken)}`,
    { token: null },
  );
  expect(publicReceipt.status).toBe(404);
  const publicState = await avow.call<{ visitor: string; states: unknown[] }>(
    'GET',
    `${base}?visitor=${encodeURIComponent(visitorToken)}`,
    { token: null },
  );
  expect(publicState.status).toBe(200);
  expect(publicState.body.visitor).not.toBe(visitorToken);
  expect(publicState.body.states).toEqual([]);

  // In the database: the derived state is gone; the evidence stays, without address or agent.
  const after = await ledgerRows(avow, tenantId, holders);
  expect(after.states).toEqual([]);
  expect(after.events.map((e) => [e.holderId, e.purpose, e.action])).toEqual(
    expect.arrayContaining([
      [subjectId, 'newsletter', 'given'],
      [other, 'newsletter', 'given'],
      [visitorId, 'cookies.analytics', 'given'],
    ]),
  );
  for (const event of after.events) {
    expect(event.ipAnonymised, event.id).toBeNull();
    expect(event.userAgent, event.id).toBeNull();
    expect(event.sealed, event.id).toBeNull();
  }
  // The keys they were sealed under are destroyed: a backup's copy of the
  // sealed address and agent can no longer be opened.
  for (const holder of holders) {
    const key = await avow.services.subjectKeys.get(avow.database.db, tenantId, holder);
    expect(key.state, holder).toBe('destroyed');
  }
  expect(after.receipts.length).toBeGreaterThanOrEqual(3);
  for (const stored of after.receipts) {
    expect(stored.receipt).not.toContain(agent);
    const signed = {
      receipt: JSON.parse(stored.receipt),
      signature: { alg: 'Ed25519', value: stored.signature },
    } as SignedReceipt;
    expect(verifyReceipt(signed, avow.keys.publicKey)).toBe(true);
  }
}

describe('erasure reaches the consent ledger', () => {
  it('POST /v1/subjects/{id}/erase: reads answer 410, state goes, events keep no address or agent', async () => {
    const person = await personWithConsent();
    const { tenantId, token, subjectId, other, visitorId } = person;

    // Before: all of it is readable, addresses and agents included.
    const history = await avow.call<{ items: { ipAnonymised: string | null }[] }>(
      'GET',
      `/v1/consent/events?subjectId=${subjectId}`,
      { token },
    );
    expect(history.status).toBe(200);
    expect(history.body.items.map((e) => e.ipAnonymised)).toEqual(
      expect.arrayContaining(['203.0.113.0', '198.51.100.0']),
    );
    expect(history.text).toContain(agent);
    const before = await ledgerRows(avow, tenantId, [subjectId, other, visitorId]);
    expect(before.states.length).toBeGreaterThan(0);
    // In the database the address and agent are sealed, under the holder's key
    // (the merged subject's events sealed again under the subject's).
    expect(before.events.length).toBeGreaterThanOrEqual(3);
    for (const event of before.events) {
      expect(event.ipAnonymised, event.id).toBeNull();
      expect(event.userAgent, event.id).toBeNull();
      expect(event.sealed, event.id).not.toBeNull();
      expect(event.sealed?.toString('latin1')).not.toContain('ErasureTest');
      expect(event.sealedFor, event.id).toBe(event.holderId === other ? subjectId : event.holderId);
    }

    const erased = await avow.call('POST', `/v1/subjects/${subjectId}/erase`, { token, body: {} });
    expect(erased.status, erased.text).toBe(200);

    await expectForgotten(person);
    // Only the personal fields went: the same events and receipts are kept.
    const after = await ledgerRows(avow, tenantId, [subjectId, other, visitorId]);
    expect(after.events.map((e) => e.id)).toEqual(before.events.map((e) => e.id));
    expect(after.receipts).toEqual(before.receipts);
  });

  it('an erasure request fulfilled does the same, in the erasure’s transaction', async () => {
    const person = await personWithConsent();
    const { token, subjectId } = person;
    const email = `erase-${subjectId}@example.test`;
    const identity = await avow.call('POST', `/v1/subjects/${subjectId}/identities`, {
      token,
      body: { identities: [{ kind: 'email', value: email }] },
    });
    expect(identity.status, identity.text).toBeLessThan(300);
    const created = await avow.call<{ id: string }>('POST', '/v1/requests', {
      token,
      body: { type: 'erasure', email },
    });
    expect(created.status, created.text).toBe(201);
    const done = await avow.call<{ status: string }>(
      'POST',
      `/v1/requests/${created.body.id}/fulfil`,
      { token, body: {} },
    );
    expect(done.status, done.text).toBe(200);
    const subject = await avow.call<{ subject: { status: string } }>(
      'GET',
      `/v1/subjects/${subjectId}`,
      { token },
    );
    expect(subject.body.subject.status).toBe('erased');

    await expectForgotten(person);
  });
});

describe('pseudonymisation and the consent ledger', () => {
  it('keeps the state decisions need, and clears the address and agent of every event', async () => {
    const person = await personWithConsent();
    const { tenantId, token, subjectId, other, visitorId } = person;
    const holders = [subjectId, other, visitorId];
    const before = await ledgerRows(avow, tenantId, holders);
    expect(before.events.length).toBeGreaterThanOrEqual(3);
    expect(before.events.every((e) => e.sealed !== null)).toBe(true);

    const done = await avow.call('POST', `/v1/subjects/${subjectId}/pseudonymize`, {
      token,
      body: {},
    });
    expect(done.status, done.text).toBe(200);

    const after = await ledgerRows(avow, tenantId, holders);
    expect(after.states).toEqual(before.states);
    expect(after.events.map((e) => e.id)).toEqual(before.events.map((e) => e.id));
    expect(
      after.events.every(
        (e) => e.ipAnonymised === null && e.userAgent === null && e.sealed === null,
      ),
    ).toBe(true);
    // The consent is still read and still counts; where it was given from is gone.
    const state = await avow.call<{ states: { purpose: string; consent: string | null }[] }>(
      'GET',
      `/v1/consent/state?subjectId=${subjectId}`,
      { token },
    );
    expect(state.status, state.text).toBe(200);
    expect(state.body.states).toContainEqual(
      expect.objectContaining({ purpose: 'newsletter', consent: 'given' }),
    );
    const history = await avow.call('GET', `/v1/consent/events?subjectId=${subjectId}`, { token });
    expect(history.status, history.text).toBe(200);
    expect(history.text).not.toContain(agent);
  });
});

describe('the public consent routes, when the subject is erased while a call runs', () => {
  type ConsentMethod = 'currentStates' | 'withdraw' | 'receipt';

  /**
   * Runs `call` with the service's `method` erasing the visitor's subject
   * just before it does its own work: the erasure of another request landing
   * between the route's check of the visitor and the service's.
   */
  async function erasedDuring<T>(
    person: Awaited<ReturnType<typeof personWithConsent>>,
    method: ConsentMethod,
    call: () => Promise<T>,
  ): Promise<T> {
    const consent = avow.services.consent as unknown as Record<
      ConsentMethod,
      (...args: unknown[]) => Promise<unknown>
    >;
    const original = consent[method];
    consent[method] = async (...args: unknown[]) => {
      consent[method] = original;
      const erased = await avow.call('POST', `/v1/subjects/${person.subjectId}/erase`, {
        token: person.token,
        body: {},
      });
      expect(erased.status, erased.text).toBe(200);
      return original(...args);
    };
    try {
      return await call();
    } finally {
      consent[method] = original;
    }
  }

  it('410 names the field the caller sent (visitor), never the service’s visitorId', async () => {
    const cases: [string, ConsentMethod, string, Record<string, unknown> | undefined, string][] = [
      ['POST', 'currentStates', '', { choices: { analytics: false } }, 'body.visitor'],
      ['GET', 'currentStates', '', undefined, 'querystring.visitor'],
      ['POST', 'withdraw', '/withdraw', {}, 'body.visitor'],
    ];
    for (const [method, service, suffix, body, field] of cases) {
      const person = await personWithConsent();
      const reply = await erasedDuring(person, service, () =>
        method === 'GET'
          ? avow.call<ErrorReply>(
              'GET',
              `${person.base}?visitor=${encodeURIComponent(person.visitorToken)}`,
              { token: null },
            )
          : avow.call<ErrorReply>('POST', `${person.base}${suffix}`, {
              token: null,
              body: { ...body, visitor: person.visitorToken },
            }),
      );
      expect(reply.status, `${method} ${suffix}: ${reply.text}`).toBe(410);
      expect(reply.body.error.code).toBe('gone');
      expect(reply.body.error.details).toEqual([
        { path: field, message: 'linked to a subject that was erased' },
      ]);
    }
  });

  it('a receipt read answers 404, as it does for a visitor erased before the call', async () => {
    const person = await personWithConsent();
    const path = `${person.base}/receipts/${person.receiptId}?visitor=${encodeURIComponent(person.visitorToken)}`;
    const before = await avow.call('GET', path, { token: null });
    expect(before.status, before.text).toBe(200);
    const reply = await erasedDuring(person, 'receipt', () =>
      avow.call<ErrorReply>('GET', path, { token: null }),
    );
    expect(reply.status, reply.text).toBe(404);
    expect(reply.body.error.code).toBe('not_found');
  });
});

describe('migration 0014: subjects erased before erasure reached the ledger', () => {
  it('drops their state and clears address and agent from their events', async () => {
    const person = await personWithConsent();
    const { tenantId, subjectId, other, visitorId } = person;
    const { db } = avow.database;
    // An erasure as it was before: the subject row a tombstone, the ledger untouched.
    await db
      .updateTable('subjects')
      .set({ status: 'erased', erasedAt: new Date() })
      .where('tenantId', '=', tenantId)
      .where('id', '=', subjectId)
      .execute();
    const live = await newSubject(avow, person.token);
    const kept = await avow.call('POST', '/v1/consent/events', {
      token: person.token,
      body: {
        subjectId: live,
        purposes: [{ purpose: 'newsletter', action: 'given' }],
        ip: '192.0.2.1',
        userAgent: agent,
      },
    });
    expect(kept.status, kept.text).toBe(201);
    // Events as they were written then: address and agent in clear, nothing sealed.
    await db
      .updateTable('consentEvents')
      .set({ ipAnonymised: '192.0.2.0', userAgent: agent, sealed: null, sealedFor: null })
      .where('tenantId', '=', tenantId)
      .where('holderId', 'in', [subjectId, other, visitorId, live])
      .execute();

    // The migration's own data step, run again on rows it has not seen.
    await consentErasure.up(db as unknown as Kysely<unknown>);

    const after = await ledgerRows(avow, tenantId, [subjectId, other, visitorId]);
    expect(after.states).toEqual([]);
    expect(after.events.length).toBeGreaterThanOrEqual(3);
    for (const event of after.events) {
      expect(event.ipAnonymised).toBeNull();
      expect(event.userAgent).toBeNull();
    }
    // A live subject's ledger is untouched.
    const untouched = await ledgerRows(avow, tenantId, [live]);
    expect(untouched.states.length).toBeGreaterThan(0);
    expect(untouched.events.map((e) => [e.ipAnonymised, e.userAgent])).toEqual([
      ['192.0.2.0', agent],
    ]);
  });
});
