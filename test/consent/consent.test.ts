import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SignedReceipt, verifyReceipt } from '../../src/consent/receipts.js';
import { newId } from '../../src/ids/ids.js';
import { startTestAvow, type TestAvow } from '../support/avow.js';
import {
  consentRegisterYaml,
  consentTenant,
  newSubject,
  publishRegister,
} from './consent-fixture.js';

type State = {
  purpose: string;
  medium: string;
  consent: string | null;
  objectedAt: string | null;
  renewalRequired: boolean;
  effective: string;
};
type RecordReply = {
  holderId: string;
  events: {
    id: string;
    purpose: string;
    action: string;
    channel: string;
    ipAnonymised: string | null;
    textHash: string | null;
    registerVersion: string | null;
  }[];
  receipt: SignedReceipt | null;
  states: State[];
};
type DecisionReply = { allowed: boolean; reasons: string[] };

let avow: TestAvow;
beforeAll(async () => {
  avow = await startTestAvow();
});
afterAll(async () => {
  await avow.close();
});

const decide = async (token: string, subjectId: string, purpose: string) =>
  (await avow.call<DecisionReply>('POST', '/v1/decisions', { token, body: { subjectId, purpose } }))
    .body;

describe('consent ledger over the API', () => {
  it('records consent with a signed receipt, and decisions follow given, withdrawn and objected', async () => {
    const { token, subjectId, registerVersion } = await consentTenant(avow);
    expect(await decide(token, subjectId, 'newsletter')).toMatchObject({
      allowed: false,
      reasons: ['consent_missing'],
    });

    const given = await avow.call<RecordReply>('POST', '/v1/consent/events', {
      token,
      body: {
        subjectId,
        channel: 'form',
        purposes: [{ purpose: 'newsletter', action: 'given' }],
        ip: '203.0.113.77',
        userAgent: 'Mozilla/5.0 test',
      },
    });
    expect(given.status).toBe(201);
    const event = given.body.events[0];
    expect(event).toMatchObject({
      purpose: 'newsletter',
      action: 'given',
      channel: 'form',
      ipAnonymised: '203.0.113.0',
      registerVersion,
    });
    expect(event?.textHash).toMatch(/^sha256:[0-9a-f]{64}$/);
    const receipt = given.body.receipt;
    if (!receipt) throw new Error('no receipt');
    expect(receipt.receipt).toMatchObject({
      piiPrincipalId: subjectId,
      jurisdiction: 'FI',
      collectionMethod: 'form',
      policyVersion: '1',
      registerVersion,
      piiControllers: [{ piiController: 'Demo Company Oy', email: 'privacy@demo.example' }],
    });
    expect(receipt.receipt.services[0]?.purposes[0]).toMatchObject({
      purposeKey: 'newsletter',
      legalBasis: 'consent',
      state: 'given',
    });
    expect(verifyReceipt(receipt, avow.services.keyring.publicKey)).toBe(true);
    const forged = structuredClone(receipt);
    forged.receipt.piiPrincipalId = 'sub_someone_else';
    expect(verifyReceipt(forged, avow.services.keyring.publicKey)).toBe(false);
    expect(await decide(token, subjectId, 'newsletter')).toMatchObject({
      allowed: true,
      reasons: [],
    });

    // Withdrawal is one call, naming nothing.
    const withdrawn = await avow.call<RecordReply>('POST', '/v1/consent/withdrawals', {
      token,
      body: { subjectId },
    });
    expect(withdrawn.status).toBe(200);
    expect(withdrawn.body.events.map((e) => [e.purpose, e.action])).toEqual([
      ['newsletter', 'withdrawn'],
    ]);
    // The demo register also deletes newsletter data at withdrawal (P0D), so retention speaks too.
    expect((await decide(token, subjectId, 'newsletter')).reasons).toContain('consent_withdrawn');

    // A legitimate-interest purpose with an objection is denied.
    expect(await decide(token, subjectId, 'analytics')).toMatchObject({ allowed: true });
    const objected = await avow.call<RecordReply>('POST', '/v1/consent/events', {
      token,
      body: { subjectId, purposes: [{ purpose: 'analytics', action: 'objected' }] },
    });
    expect(objected.status).toBe(201);
    expect(await decide(token, subjectId, 'analytics')).toMatchObject({
      allowed: false,
      reasons: ['objected'],
    });

    const history = await avow.call<{ items: RecordReply['events'] }>(
      'GET',
      `/v1/consent/events?subjectId=${subjectId}`,
      { token },
    );
    expect(history.body.items.map((e) => `${e.purpose}:${e.action}`)).toEqual([
      'newsletter:given',
      'newsletter:withdrawn',
      'analytics:objected',
    ]);
    const state = await avow.call<{ states: State[] }>(
      'GET',
      `/v1/consent/state?subjectId=${subjectId}`,
      { token },
    );
    expect(state.body.states.map((s) => [s.purpose, s.consent, s.effective])).toEqual([
      ['analytics', null, 'objected'],
      ['newsletter', 'withdrawn', 'not_given'],
    ]);
    const receipts = await avow.call<{ items: { id: string }[] }>(
      'GET',
      `/v1/consent/receipts?subjectId=${subjectId}`,
      { token },
    );
    expect(receipts.body.items).toHaveLength(3);
    const one = await avow.call<SignedReceipt>(
      'GET',
      `/v1/consent/receipts/${receipts.body.items[0]?.id}`,
      { token },
    );
    expect(verifyReceipt(one.body, avow.services.keyring.publicKey)).toBe(true);
  });

  it('stops direct marketing on any objection, even with consent given', async () => {
    const { token, subjectId } = await consentTenant(avow);
    await avow.call('POST', '/v1/consent/events', {
      token,
      body: { subjectId, purposes: [{ purpose: 'newsletter', action: 'given' }] },
    });
    await avow.call('POST', '/v1/consent/events', {
      token,
      body: { subjectId, purposes: [{ purpose: 'newsletter', action: 'objected' }] },
    });
    expect(await decide(token, subjectId, 'newsletter')).toMatchObject({
      allowed: false,
      reasons: ['objected'],
    });
  });

  it('keeps an objection made by a rights request through later ledger events', async () => {
    const { token, subjectId } = await consentTenant(avow);
    const record = async (action: string) => {
      const reply = await avow.call('POST', '/v1/consent/events', {
        token,
        body: { subjectId, purposes: [{ purpose: 'newsletter', action }] },
      });
      expect(reply.status, reply.text).toBe(201);
    };
    await record('given');
    expect(await decide(token, subjectId, 'newsletter')).toMatchObject({ allowed: true });

    // The objection goes to the vault's purpose state through the request, not the ledger.
    const filed = await avow.call<{ id: string }>('POST', '/v1/requests', {
      token,
      body: {
        type: 'objection',
        email: 'objector@example.com',
        subjectId,
        purposes: ['newsletter'],
      },
    });
    expect(filed.status, filed.text).toBe(201);
    const fulfilled = await avow.call('POST', `/v1/requests/${filed.body.id}/fulfil`, {
      token,
      body: {},
    });
    expect(fulfilled.status, fulfilled.text).toBe(200);
    expect((await decide(token, subjectId, 'newsletter')).reasons).toContain('objected');

    const withdrawn = await avow.call('POST', '/v1/consent/withdrawals', {
      token,
      body: { subjectId },
    });
    expect(withdrawn.status).toBe(200);
    const afterWithdrawal = await decide(token, subjectId, 'newsletter');
    expect(afterWithdrawal.allowed).toBe(false);
    expect(afterWithdrawal.reasons).toContain('objected');
    // A "given" lifts only an objection the ledger itself recorded.
    await record('given');
    expect(await decide(token, subjectId, 'newsletter')).toMatchObject({
      allowed: false,
      reasons: ['objected'],
    });
  });

  it('lifts an objection the ledger recorded when consent is given again', async () => {
    const { token, subjectId } = await consentTenant(avow);
    for (const action of ['objected', 'refused']) {
      const reply = await avow.call('POST', '/v1/consent/events', {
        token,
        body: { subjectId, purposes: [{ purpose: 'newsletter', action }] },
      });
      expect(reply.status, reply.text).toBe(201);
    }
    // A refusal leaves the objection as it was.
    expect((await decide(token, subjectId, 'newsletter')).reasons).toContain('objected');
    await avow.call('POST', '/v1/consent/events', {
      token,
      body: { subjectId, purposes: [{ purpose: 'newsletter', action: 'given' }] },
    });
    expect(await decide(token, subjectId, 'newsletter')).toMatchObject({ allowed: true });
  });

  it('refuses unknown purposes, unknown subjects and keys without the scope', async () => {
    const { tenantId, token, subjectId } = await consentTenant(avow);
    const unknown = await avow.call<{ error: { code: string; details: { path: string }[] } }>(
      'POST',
      '/v1/consent/events',
      {
        token,
        body: { subjectId, purposes: [{ purpose: 'telepathy', action: 'given' }] },
      },
    );
    expect(unknown.status).toBe(422);
    expect(unknown.body.error.details[0]?.path).toBe('body.purposes.0.purpose');
    const nobody = await avow.call('POST', '/v1/consent/events', {
      token,
      body: {
        subjectId: 'sub_01jz0000000000000000000000',
        purposes: [{ purpose: 'newsletter', action: 'given' }],
      },
    });
    expect(nobody.status).toBe(404);
    const both = await avow.call('POST', '/v1/consent/events', {
      token,
      body: { purposes: [{ purpose: 'newsletter', action: 'given' }] },
    });
    expect(both.status).toBe(400);
    const reader = await avow.services.apiKeys.create({
      name: 'reader',
      scopes: ['vault:read'],
      tenantId,
      createdBy: null,
    });
    const denied = await avow.call('POST', '/v1/consent/events', {
      token: reader.token,
      body: { subjectId, purposes: [{ purpose: 'newsletter', action: 'given' }] },
    });
    expect(denied.status).toBe(403);
    expect(
      (await avow.call('GET', `/v1/consent/state?subjectId=${subjectId}`, { token: reader.token }))
        .status,
    ).toBe(200);
    // Another tenant's subject is not found.
    const other = await consentTenant(avow);
    expect(
      (await avow.call('GET', `/v1/consent/state?subjectId=${other.subjectId}`, { token })).status,
    ).toBe(404);
  });

  it('marks consent given under an older register version for renewal', async () => {
    const { tenantId, token, subjectId } = await consentTenant(avow);
    const second = await newSubject(avow, token);
    await avow.call('POST', '/v1/consent/events', {
      token,
      body: { subjectId, purposes: [{ purpose: 'newsletter', action: 'given' }] },
    });
    await avow.call('POST', '/v1/consent/events', {
      token,
      body: { subjectId: second, purposes: [{ purpose: 'newsletter', action: 'refused' }] },
    });
    const v2 = await publishRegister(
      avow,
      token,
      consentRegisterYaml({ policyVersion: '2', newsletterText: 'Send me news and offers.' }),
    );

    expect(await avow.services.consent.markForRenewal(tenantId, ['newsletter'], v2)).toBe(1);
    expect(await avow.services.consent.markForRenewal(tenantId, ['newsletter'], v2)).toBe(0);
    const marked = await avow.call<{ states: State[] }>(
      'GET',
      `/v1/consent/state?subjectId=${subjectId}`,
      { token },
    );
    expect(marked.body.states[0]).toMatchObject({
      purpose: 'newsletter',
      consent: 'given',
      renewalRequired: true,
    });
    const refused = await avow.call<{ states: State[] }>(
      'GET',
      `/v1/consent/state?subjectId=${second}`,
      { token },
    );
    expect(refused.body.states[0]).toMatchObject({ consent: 'refused', renewalRequired: false });

    const renewed = await avow.call<RecordReply>('POST', '/v1/consent/events', {
      token,
      body: { subjectId, purposes: [{ purpose: 'newsletter', action: 'given' }] },
    });
    expect(renewed.body.states[0]).toMatchObject({ renewalRequired: false });
    expect(renewed.body.events[0]?.registerVersion).toBe(v2);
  });

  it('writes each change to the audit log in the same transaction', async () => {
    const { tenantId, token, subjectId } = await consentTenant(avow);
    await avow.call('POST', '/v1/consent/events', {
      token,
      body: { subjectId, purposes: [{ purpose: 'newsletter', action: 'given' }] },
    });
    const expired = await avow.call('POST', '/v1/consent/events', {
      token,
      body: { subjectId, purposes: [{ purpose: 'newsletter', action: 'expired' }] },
    });
    expect(expired.status, expired.text).toBe(201);
    const rows = await avow.database.db
      .selectFrom('auditEvents')
      .select(['action', 'purpose', 'subjectId'])
      .where('tenantId', '=', tenantId)
      .where('action', 'like', 'consent.%')
      .orderBy('position')
      .execute();
    expect(rows).toEqual([
      { action: 'consent.given', purpose: 'newsletter', subjectId },
      { action: 'consent.expired', purpose: 'newsletter', subjectId },
    ]);
  });
});

describe('one-click unsubscribe (RFC 8058)', () => {
  it('gives senders the headers; GET asks, POST unsubscribes once without a key', async () => {
    const { token, subjectId, tenantId } = await consentTenant(avow);
    await avow.call('POST', '/v1/consent/events', {
      token,
      body: { subjectId, purposes: [{ purpose: 'newsletter', action: 'given' }] },
    });
    const link = await avow.call<{ url: string; headers: Record<string, string> }>(
      'POST',
      '/v1/consent/unsubscribe-links',
      {
        token,
        body: { subjectId, purpose: 'newsletter' },
      },
    );
    expect(link.status).toBe(200);
    expect(link.body.headers['List-Unsubscribe']).toBe(`<${link.body.url}>`);
    expect(link.body.headers['List-Unsubscribe-Post']).toBe('List-Unsubscribe=One-Click');
    const url = new URL(link.body.url);
    const path = `${url.pathname}${url.search}`;
    expect(path.startsWith(`/v1/public/tenants/${tenantId}/unsubscribe?token=u1.`)).toBe(true);

    const page = await avow.call('GET', path, { token: null });
    expect(page.status).toBe(200);
    expect(page.text).toContain('<form method="post">');
    expect(page.text).toContain('Newsletter');
    expect(await decide(token, subjectId, 'newsletter')).toMatchObject({ allowed: true });

    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const first = await avow.call('POST', path, {
      token: null,
      rawBody: 'List-Unsubscribe=One-Click',
      headers: form,
    });
    expect(first.status).toBe(200);
    expect(first.text).toContain('You are unsubscribed');
    const again = await avow.call('POST', path, {
      token: null,
      rawBody: 'List-Unsubscribe=One-Click',
      headers: form,
    });
    expect(again.status).toBe(200);
    const after = await decide(token, subjectId, 'newsletter');
    expect(after.allowed).toBe(false);
    expect(after.reasons).toContain('consent_withdrawn');
    const history = await avow.call<{ items: RecordReply['events'] }>(
      'GET',
      `/v1/consent/events?subjectId=${subjectId}`,
      { token },
    );
    expect(history.body.items.map((e) => `${e.action}:${e.channel}`)).toEqual([
      'given:api',
      'withdrawn:unsubscribe_link',
    ]);

    const tampered = path.replace(
      /.{10}$/,
      (tail) => `${tail[0] === 'A' ? 'B' : 'A'}${tail.slice(1)}`,
    );
    expect(
      (
        await avow.call('POST', tampered, {
          token: null,
          rawBody: 'List-Unsubscribe=One-Click',
          headers: form,
        })
      ).status,
    ).toBe(404);
    const other = await consentTenant(avow);
    const elsewhere = path.replace(tenantId, other.tenantId);
    expect((await avow.call('GET', elsewhere, { token: null })).status).toBe(404);
  });
});

describe('public consent routes, GPC and receipts', () => {
  it('records banner choices for a visitor, applies Sec-GPC: 1 and links the visitor to a subject', async () => {
    const { tenantId, token, subjectId } = await consentTenant(avow);
    const base = `/v1/public/tenants/${tenantId}/consent`;
    const noGpc = await avow.call<{ visitor: string; states: State[]; gpcApplied: boolean }>(
      'POST',
      base,
      {
        token: null,
        headers: { 'sec-gpc': '0' },
        body: { choices: { analytics: true, functional: false } },
      },
    );
    expect(noGpc.status).toBe(200);
    expect(noGpc.body.gpcApplied).toBe(false);
    expect(noGpc.body.states.map((s) => `${s.purpose}:${s.consent}`)).toEqual([
      'cookies.analytics:given',
      'cookies.functional:refused',
    ]);

    const gpc = await avow.call<{
      visitor: string;
      states: State[];
      gpcApplied: boolean;
      receiptIds: string[];
    }>('POST', base, {
      token: null,
      headers: { 'sec-gpc': '1' },
      body: { choices: { analytics: true, functional: true, marketing: true } },
    });
    expect(gpc.body.gpcApplied).toBe(true);
    const byPurpose = Object.fromEntries(gpc.body.states.map((s) => [s.purpose, s]));
    expect(byPurpose['cookies.analytics']?.consent).toBe('given');
    expect(byPurpose['cookies.marketing']?.consent).toBe('refused');
    expect(byPurpose.newsletter?.consent).toBe('refused');
    expect(byPurpose.analytics?.effective).toBe('objected');

    // The same signal again changes nothing.
    const again = await avow.call<{ receiptIds: string[] }>(
      'GET',
      `${base}?visitor=${encodeURIComponent(gpc.body.visitor)}`,
      {
        token: null,
        headers: { 'sec-gpc': '1' },
      },
    );
    expect(again.body.receiptIds).toEqual([]);

    // The visitor reads their own receipt; the signature checks out with the published key.
    const receiptId = gpc.body.receiptIds.at(-1);
    const mine = await avow.call<SignedReceipt>(
      'GET',
      `${base}/receipts/${receiptId}?visitor=${encodeURIComponent(gpc.body.visitor)}`,
      { token: null },
    );
    expect(mine.status).toBe(200);
    expect(mine.body.receipt.collectionMethod).toBe('gpc');
    const key = await avow.call<{ publicKeyPem: string }>('GET', '/v1/public/consent/receipt-key', {
      token: null,
    });
    expect(key.body.publicKeyPem).toBe(avow.services.keyring.publicKeyPem);
    const verified = await avow.call<{ valid: boolean }>(
      'POST',
      '/v1/public/consent/receipts/verify',
      { token: null, body: mine.body },
    );
    expect(verified.body.valid).toBe(true);
    const notMine = await avow.call(
      'GET',
      `${base}/receipts/${receiptId}?visitor=${encodeURIComponent(noGpc.body.visitor)}`,
      { token: null },
    );
    expect(notMine.status).toBe(404);

    // Linked to a subject, the visitor's objection reaches decisions.
    const visitorId = gpc.body.visitor.split('.')[0];
    const linked = await avow.call('POST', `/v1/consent/visitors/${visitorId}/link`, {
      token,
      body: { subjectId },
    });
    expect(linked.status).toBe(200);
    expect(await decide(token, subjectId, 'analytics')).toMatchObject({
      allowed: false,
      reasons: ['objected'],
    });
    const history = await avow.call<{ items: { action: string; channel: string }[] }>(
      'GET',
      `/v1/consent/events?subjectId=${subjectId}`,
      { token },
    );
    expect(history.body.items.filter((e) => e.channel === 'gpc').length).toBe(3);
  });

  it('links a visitor only to a live subject of the tenant', async () => {
    const { tenantId, token } = await consentTenant(avow);
    const chose = await avow.call<{ visitor: string }>(
      'POST',
      `/v1/public/tenants/${tenantId}/consent`,
      { token: null, body: { choices: { analytics: true } } },
    );
    expect(chose.status).toBe(200);
    const visitorId = chose.body.visitor.split('.')[0];
    type ErrorReply = { error: { code: string; details?: { path: string; message: string }[] } };
    const linkTo = (subjectId: string) =>
      avow.call<ErrorReply>('POST', `/v1/consent/visitors/${visitorId}/link`, {
        token,
        body: { subjectId },
      });

    const unknown = await linkTo(newId('subject'));
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('not_found');
    const other = await consentTenant(avow);
    expect((await linkTo(other.subjectId)).status).toBe(404);

    const erased = await newSubject(avow, token);
    expect(
      (await avow.call('POST', `/v1/subjects/${erased}/erase`, { token, body: {} })).status,
    ).toBe(200);
    const toErased = await linkTo(erased);
    expect(toErased.status).toBe(410);
    expect(toErased.body.error.code).toBe('gone');

    const from = await newSubject(avow, token);
    const into = await newSubject(avow, token);
    const merged = await avow.call('POST', '/v1/subjects/merge', { token, body: { from, into } });
    expect(merged.status, merged.text).toBe(200);
    const toMerged = await linkTo(from);
    expect(toMerged.status).toBe(410);
    expect(toMerged.body.error.details?.[0]?.message).toContain(into);

    // Nothing was linked: later choices stay the visitor's, and the right subject still links.
    const history = await avow.call<{ items: unknown[] }>(
      'GET',
      `/v1/consent/events?subjectId=${from}`,
      { token },
    );
    expect(history.body.items).toEqual([]);
    expect((await linkTo(into)).status).toBe(200);
  });

  it('makes no unsubscribe link for a subject it cannot mail: unknown or another tenant’s (404), erased (410)', async () => {
    const { token, subjectId } = await consentTenant(avow);
    const other = await consentTenant(avow);
    const linkFor = (id: string) =>
      avow.call<{ error: { code: string; details?: { path: string; message: string }[] } }>(
        'POST',
        '/v1/consent/unsubscribe-links',
        { token, body: { subjectId: id, purpose: 'newsletter' } },
      );
    expect((await linkFor(subjectId)).status).toBe(200);
    const unknown = await linkFor(`sub_${'0'.repeat(26)}`);
    expect(unknown.status, unknown.text).toBe(404);
    const othersSubject = await linkFor(other.subjectId);
    expect(othersSubject.status, othersSubject.text).toBe(404);
    expect(othersSubject.body.error.code).toBe('not_found');

    const erased = await avow.call('POST', `/v1/subjects/${subjectId}/erase`, { token, body: {} });
    expect(erased.status, erased.text).toBe(200);
    const gone = await linkFor(subjectId);
    expect(gone.status, gone.text).toBe(410);
    expect(gone.body.error.details).toEqual([{ path: 'body.subjectId', message: 'erased' }]);
  });

  it('records nothing on an erased subject: the API answers 410, unsubscribe and the banner write nothing', async () => {
    const { tenantId, token, subjectId } = await consentTenant(avow);
    const given = await avow.call('POST', '/v1/consent/events', {
      token,
      body: { subjectId, purposes: [{ purpose: 'newsletter', action: 'given' }] },
    });
    expect(given.status).toBe(201);
    const link = await avow.call<{ url: string }>('POST', '/v1/consent/unsubscribe-links', {
      token,
      body: { subjectId, purpose: 'newsletter' },
    });
    const unsubscribePath = `${new URL(link.body.url).pathname}${new URL(link.body.url).search}`;
    const base = `/v1/public/tenants/${tenantId}/consent`;
    const chose = await avow.call<{ visitor: string; receiptIds: string[] }>('POST', base, {
      token: null,
      body: { choices: { analytics: true } },
    });
    const oldToken = chose.body.visitor;
    const oldVisitor = oldToken.split('.')[0] ?? '';
    expect(
      (
        await avow.call('POST', `/v1/consent/visitors/${oldVisitor}/link`, {
          token,
          body: { subjectId },
        })
      ).status,
    ).toBe(200);
    const erased = await avow.call('POST', `/v1/subjects/${subjectId}/erase`, { token, body: {} });
    expect(erased.status, erased.text).toBe(200);

    // What names the erased person: its own and its visitor's events and receipts, its
    // audit entries, its ledger state and the purpose state decisions read.
    const { db } = avow.database;
    const holders = [subjectId, oldVisitor];
    const written = async () => ({
      events: await db
        .selectFrom('consentEvents')
        .select(['id', 'holderId', 'action'])
        .where('tenantId', '=', tenantId)
        .where('holderId', 'in', holders)
        .orderBy('id')
        .execute(),
      receipts: await db
        .selectFrom('consentReceipts')
        .select('id')
        .where('tenantId', '=', tenantId)
        .where('holderId', 'in', holders)
        .orderBy('id')
        .execute(),
      states: await db
        .selectFrom('consentState')
        .selectAll()
        .where('tenantId', '=', tenantId)
        .where('holderId', 'in', holders)
        .orderBy('holderId')
        .orderBy('purpose')
        .execute(),
      purposeStates: await db
        .selectFrom('subjectPurposeState')
        .selectAll()
        .where('tenantId', '=', tenantId)
        .where('subjectId', '=', subjectId)
        .execute(),
      audit: await db
        .selectFrom('auditEvents')
        .select(['id', 'action'])
        .where('tenantId', '=', tenantId)
        .where('subjectId', '=', subjectId)
        .orderBy('id')
        .execute(),
    });
    const before = await written();
    expect(before.purposeStates).toEqual([]);

    type ErrorReply = { error: { code: string; details?: { path: string; message: string }[] } };
    for (const action of ['given', 'withdrawn', 'objected']) {
      const reply = await avow.call<ErrorReply>('POST', '/v1/consent/events', {
        token,
        body: { subjectId, purposes: [{ purpose: 'newsletter', action }] },
      });
      expect(reply.status, reply.text).toBe(410);
      expect(reply.body.error.code).toBe('gone');
      expect(reply.body.error.details?.[0]).toEqual({ path: 'body.subjectId', message: 'erased' });
    }
    const viaVisitor = await avow.call<ErrorReply>('POST', '/v1/consent/events', {
      token,
      body: { visitorId: oldVisitor, purposes: [{ purpose: 'newsletter', action: 'given' }] },
    });
    expect(viaVisitor.status).toBe(410);
    const withdrawal = await avow.call('POST', '/v1/consent/withdrawals', {
      token,
      body: { subjectId },
    });
    expect(withdrawal.status).toBe(410);

    // One-click unsubscribe answers success (there is no one left to mail) and writes nothing.
    const unsubscribed = await avow.call('POST', unsubscribePath, {
      token: null,
      rawBody: 'List-Unsubscribe=One-Click',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(unsubscribed.status).toBe(200);
    expect(unsubscribed.text).toContain('You are unsubscribed');

    // The banner's old token is a stranger's now: its choices start a new visitor, on no one.
    const banner = await avow.call<{ visitor: string; states: State[] }>('POST', base, {
      token: null,
      headers: { 'sec-gpc': '1' },
      body: { visitor: oldToken, choices: { analytics: false } },
    });
    expect(banner.status, banner.text).toBe(200);
    expect(banner.body.visitor).not.toBe(oldToken);
    const newVisitor = banner.body.visitor.split('.')[0] ?? '';
    const read = await avow.call<{ visitor: string; states: State[] }>(
      'GET',
      `${base}?visitor=${encodeURIComponent(oldToken)}`,
      { token: null },
    );
    expect(read.status).toBe(200);
    expect(read.body.states).toEqual([]);
    const withdrawn = await avow.call('POST', `${base}/withdraw`, {
      token: null,
      body: { visitor: oldToken },
    });
    expect(withdrawn.status).toBe(200);
    const oldReceipt = await avow.call(
      'GET',
      `${base}/receipts/${chose.body.receiptIds[0]}?visitor=${encodeURIComponent(oldToken)}`,
      { token: null },
    );
    expect(oldReceipt.status).toBe(404);

    // Nothing more names the erased person; the new visitor's choices went on the new visitor.
    expect(await written()).toEqual(before);
    const onNewVisitor = await db
      .selectFrom('consentEvents')
      .select('action')
      .where('tenantId', '=', tenantId)
      .where('holderId', '=', newVisitor)
      .execute();
    expect(onNewVisitor.length).toBeGreaterThan(0);
  });

  it('answers 404 for an unknown tenant and writes nothing', async () => {
    const visitors = async () =>
      (await avow.database.db.selectFrom('consentVisitors').select('id').execute()).length;
    const before = await visitors();
    for (const headers of [{}, { 'sec-gpc': '1' }] as Record<string, string>[]) {
      const reply = await avow.call<{ error: { code: string; message: string } }>(
        'POST',
        `/v1/public/tenants/${newId('tenant')}/consent`,
        { token: null, headers, body: { choices: { analytics: true } } },
      );
      expect(reply.status).toBe(404);
      expect(reply.body.error).toMatchObject({ code: 'not_found', message: 'Tenant not found' });
    }
    expect(await visitors()).toBe(before);
  });

  it('refuses a visitor token from another tenant or a forged one', async () => {
    const a = await consentTenant(avow);
    const b = await consentTenant(avow);
    const first = await avow.call<{ visitor: string }>(
      'POST',
      `/v1/public/tenants/${a.tenantId}/consent`,
      { token: null, body: { choices: { analytics: false } } },
    );
    const cross = await avow.call('POST', `/v1/public/tenants/${b.tenantId}/consent`, {
      token: null,
      body: { visitor: first.body.visitor, choices: { analytics: true } },
    });
    expect(cross.status).toBe(400);
    const forged = `${first.body.visitor.split('.')[0]}.${'A'.repeat(86)}`;
    const bad = await avow.call(
      'GET',
      `/v1/public/tenants/${a.tenantId}/consent?visitor=${forged}`,
      { token: null },
    );
    expect(bad.status).toBe(400);
  });

  it('serves the GPC well-known file, the banner config and cross-origin headers', async () => {
    const { tenantId } = await consentTenant(avow);
    const gpc = await avow.call<{ gpc: boolean; lastUpdate: string }>(
      'GET',
      '/.well-known/gpc.json',
      { token: null },
    );
    expect(gpc.body.gpc).toBe(true);
    expect(gpc.body.lastUpdate).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    const config = await avow.call<{
      categories: { key: string; required: boolean }[];
      cookieListHash: string;
    }>('GET', `/v1/public/tenants/${tenantId}/consent/config`, { token: null });
    expect(config.body.categories.map((c) => `${c.key}:${c.required}`)).toEqual([
      'necessary:true',
      'functional:false',
      'analytics:false',
      'marketing:false',
    ]);
    const script = await avow.call('GET', `/v1/public/tenants/${tenantId}/consent.js`, {
      token: null,
    });
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toContain('javascript');
    expect(script.headers.get('cross-origin-resource-policy')).toBe('cross-origin');
    expect(script.text).toContain(config.body.cookieListHash);
    const preflight = await avow.call('OPTIONS', `/v1/public/tenants/${tenantId}/consent`, {
      token: null,
      headers: { origin: 'https://shop.example', 'access-control-request-method': 'POST' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*');
  });
});
