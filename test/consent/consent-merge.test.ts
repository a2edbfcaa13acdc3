import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAvow, type TestAvow } from '../support/avow.js';
import { consentTenant, newSubject } from './consent-fixture.js';

type State = {
  holderId: string;
  purpose: string;
  medium: string;
  consent: string | null;
  objectedAt: string | null;
  effective: string;
};
type Event = { holderId: string; purpose: string; action: string; channel: string };
type DecisionReply = { allowed: boolean; reasons: string[] };

let avow: TestAvow;
beforeAll(async () => {
  avow = await startTestAvow();
});
afterAll(async () => {
  await avow.close();
});

/** Two subjects of one tenant, and the calls the tests make about them. */
async function twoSubjects() {
  const { tenantId, token, subjectId: a } = await consentTenant(avow);
  const b = await newSubject(avow, token);
  const record = async (subjectId: string, purpose: string, action: string, medium?: string) => {
    const reply = await avow.call('POST', '/v1/consent/events', {
      token,
      body: { subjectId, purposes: [{ purpose, action, ...(medium ? { medium } : {}) }] },
    });
    expect(reply.status, reply.text).toBe(201);
  };
  const merge = async () => {
    const reply = await avow.call('POST', '/v1/subjects/merge', {
      token,
      body: { from: a, into: b },
    });
    expect(reply.status, reply.text).toBe(200);
  };
  const decide = async (purpose: string) =>
    (
      await avow.call<DecisionReply>('POST', '/v1/decisions', {
        token,
        body: { subjectId: b, purpose },
      })
    ).body;
  const states = async (subjectId: string) =>
    (
      await avow.call<{ states: State[] }>('GET', `/v1/consent/state?subjectId=${subjectId}`, {
        token,
      })
    ).body.states;
  const history = async (subjectId: string) =>
    (
      await avow.call<{ items: Event[] }>('GET', `/v1/consent/events?subjectId=${subjectId}`, {
        token,
      })
    ).body.items;
  return { tenantId, token, a, b, record, merge, decide, states, history };
}

describe('consent follows a person through a merge', () => {
  it('an unsubscribe link mailed to the merged-away subject withdraws the consent of the one it went into', async () => {
    const { token, a, b, record, merge, decide, states, history } = await twoSubjects();
    await record(a, 'newsletter', 'given');
    const link = await avow.call<{ url: string }>('POST', '/v1/consent/unsubscribe-links', {
      token,
      body: { subjectId: a, purpose: 'newsletter' },
    });
    expect(link.status, link.text).toBe(200);

    await merge();
    expect(await decide('newsletter')).toMatchObject({ allowed: true, reasons: [] });
    // B's state lists the consent A gave, and B's history holds A's event.
    expect(
      (await states(b)).map((s) => [s.holderId, s.purpose, s.medium, s.consent, s.effective]),
    ).toEqual([[b, 'newsletter', 'all', 'given', 'given']]);
    expect((await history(b)).map((e) => [e.holderId, e.purpose, e.action])).toEqual([
      [a, 'newsletter', 'given'],
    ]);

    const url = new URL(link.body.url);
    const unsubscribed = await avow.call('POST', `${url.pathname}${url.search}`, {
      token: null,
      rawBody: 'List-Unsubscribe=One-Click',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(unsubscribed.status).toBe(200);
    expect(unsubscribed.text).toContain('You are unsubscribed');
    const after = await decide('newsletter');
    expect(after.allowed).toBe(false);
    expect(after.reasons).toContain('consent_withdrawn');
    expect((await history(b)).map((e) => [e.holderId, e.action, e.channel])).toEqual([
      [a, 'given', 'api'],
      [b, 'withdrawn', 'unsubscribe_link'],
    ]);
  });

  it('withdraw-everything on the subject merged into withdraws the consent that came from the other', async () => {
    const { token, a, b, record, merge, decide, states } = await twoSubjects();
    await record(a, 'newsletter', 'given');
    await record(a, 'newsletter', 'withdrawn', 'sms');
    await merge();
    expect((await states(b)).map((s) => `${s.purpose}:${s.medium}:${s.consent}`)).toEqual([
      'newsletter:all:given',
      'newsletter:sms:withdrawn',
    ]);

    const withdrawn = await avow.call<{ holderId: string; events: Event[] }>(
      'POST',
      '/v1/consent/withdrawals',
      { token, body: { subjectId: b } },
    );
    expect(withdrawn.status, withdrawn.text).toBe(200);
    expect(withdrawn.body.holderId).toBe(b);
    expect(withdrawn.body.events.map((e) => [e.purpose, e.action])).toEqual([
      ['newsletter', 'withdrawn'],
    ]);
    expect((await decide('newsletter')).reasons).toContain('consent_withdrawn');
    // A's id names the person it went into: consent recorded by it lands on B.
    expect((await states(a)).map((s) => `${s.holderId}:${s.purpose}:${s.consent}`)).toContain(
      `${b}:newsletter:withdrawn`,
    );
  });

  it('keeps the later choice where both subjects made one', async () => {
    const { a, b, record, merge, decide } = await twoSubjects();
    await record(b, 'newsletter', 'given');
    await record(a, 'newsletter', 'given');
    await record(a, 'newsletter', 'withdrawn');
    await merge();
    expect((await decide('newsletter')).reasons).toContain('consent_withdrawn');
  });

  it('keeps an objection made on the merged-away subject although the other gave consent', async () => {
    const { a, b, record, merge, decide, states } = await twoSubjects();
    await record(a, 'newsletter', 'objected');
    await record(b, 'newsletter', 'given');
    expect(await decide('newsletter')).toMatchObject({ allowed: true });
    await merge();
    expect(await decide('newsletter')).toMatchObject({ allowed: false, reasons: ['objected'] });
    const [state] = await states(b);
    expect(state).toMatchObject({ purpose: 'newsletter', consent: 'given', effective: 'objected' });
    expect(state?.objectedAt).not.toBeNull();
  });

  it('follows a chain of merges, and history reaches back through it', async () => {
    const { token, a, b, record, merge, history } = await twoSubjects();
    await record(a, 'newsletter', 'given');
    await merge();
    const c = await newSubject(avow, token);
    const again = await avow.call('POST', '/v1/subjects/merge', {
      token,
      body: { from: b, into: c },
    });
    expect(again.status, again.text).toBe(200);
    await record(a, 'newsletter', 'withdrawn');
    expect((await history(c)).map((e) => [e.holderId, e.action])).toEqual([
      [a, 'given'],
      [c, 'withdrawn'],
    ]);
    const decision = await avow.call<DecisionReply>('POST', '/v1/decisions', {
      token,
      body: { subjectId: c, purpose: 'newsletter' },
    });
    expect(decision.body.reasons).toContain('consent_withdrawn');
  });

  it('records the choices of a visitor linked to the merged-away subject on the one it went into', async () => {
    const { tenantId, token, a, b, merge, states, history } = await twoSubjects();
    const base = `/v1/public/tenants/${tenantId}/consent`;
    const chose = await avow.call<{ visitor: string }>('POST', base, {
      token: null,
      body: { choices: { analytics: true } },
    });
    expect(chose.status).toBe(200);
    const visitorId = chose.body.visitor.split('.')[0];
    const linked = await avow.call('POST', `/v1/consent/visitors/${visitorId}/link`, {
      token,
      body: { subjectId: a },
    });
    expect(linked.status, linked.text).toBe(200);
    await merge();

    const later = await avow.call('POST', base, {
      token: null,
      body: { visitor: chose.body.visitor, choices: { marketing: true } },
    });
    expect(later.status, later.text).toBe(200);
    expect((await states(b)).map((s) => `${s.purpose}:${s.consent}`)).toEqual([
      'cookies.analytics:given',
      'cookies.marketing:given',
    ]);
    expect((await history(b)).map((e) => [e.holderId, e.purpose])).toEqual([
      [visitorId, 'cookies.analytics'],
      [b, 'cookies.marketing'],
    ]);
  });
});
