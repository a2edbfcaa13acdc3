import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDuration } from '../../src/register/duration.js';
import { verifyRequestReceipt } from '../../src/requests/requests-receipt.js';
import { startTestAvow, type TestAvow } from '../support/avow.js';
import { startSmtpServer } from '../support/smtp.js';
import {
  fileAndVerify,
  type RequestView,
  receiptFrom,
  type Smtp,
  subjectWithRecords,
  tenantWithRegister,
  unzip,
} from './support.js';

let avow: TestAvow;
let smtp: Smtp;

beforeAll(async () => {
  smtp = await startSmtpServer();
  avow = await startTestAvow({ mail: { kind: 'smtp', url: smtp.url, from: 'privacy@x.test' } });
});

afterAll(async () => {
  await avow?.close();
  await smtp?.close();
});

const plusDays = (iso: string, days: number) =>
  addDuration(new Date(`${iso.slice(0, 10)}T00:00:00Z`), { years: 0, months: 0, weeks: 0, days })
    .toISOString()
    .slice(0, 10);

async function fulfil(token: string, id: string, body: unknown = {}) {
  const done = await avow.call<RequestView>('POST', `/v1/requests/${id}/fulfil`, { token, body });
  expect(done.status, done.text).toBe(200);
  const mail = await smtp.waitFor((m) => m.subject === `Your request ${id} was answered`);
  const receipt = receiptFrom(mail);
  expect(verifyRequestReceipt(receipt, avow.keys.publicKey)).toBe(true);
  return { view: done.body, mail, receipt };
}

/** A current customer relationship: the marketing purposes' legitimate-interest basis applies. */
async function inRelationship(token: string, subjectId: string) {
  const patched = await avow.call('PATCH', `/v1/subjects/${subjectId}`, {
    token,
    body: { relationshipStartedAt: new Date(Date.now() - 86_400_000).toISOString() },
  });
  expect(patched.status, patched.text).toBe(200);
}

/** A customer (Aize) with a name used for the service and the CRM, in a relationship: crm is allowed. */
async function customer(token: string, email: string): Promise<string> {
  const subjectId = await subjectWithRecords(avow, token, {
    kind: 'customer.user',
    email,
    records: [{ category: 'user.name', value: 'Kari', purposes: ['provide_service', 'crm'] }],
  });
  await inRelationship(token, subjectId);
  return subjectId;
}

async function decide(token: string, subjectId: string, purpose: string) {
  const reply = await avow.call<{ allowed: boolean; reasons: unknown[] }>('POST', '/v1/decisions', {
    token,
    body: { subjectId, purpose },
  });
  expect(reply.status, reply.text).toBe(200);
  return reply.body;
}

describe('Aize (30 days)', () => {
  it('portability, rectification with Art. 19, objection, consent withdrawal and erasure that keeps bookkeeping data', async () => {
    const { tenantId, token } = await tenantWithRegister(avow, 'aize.yaml');
    const email = 'kari@example.no';
    const subjectId = await subjectWithRecords(avow, token, {
      kind: 'customer.user',
      email,
      records: [
        { category: 'user.name', value: 'Kari Nordman', purposes: ['provide_service', 'crm'] },
        { category: 'user.payment', value: { iban: 'NO9386011117947' }, purposes: ['invoicing'] },
        { category: 'user.workplace.expertise', value: 'Sales', purposes: ['crm'] },
      ],
    });
    await inRelationship(token, subjectId);
    const consent = await avow.call('POST', '/v1/consent/events', {
      token,
      body: { subjectId, channel: 'api', purposes: [{ purpose: 'cookies', action: 'given' }] },
    });
    expect(consent.status, consent.text).toBe(201);

    // Portability: the 30-day deadline, and the archive.
    const port = await fileAndVerify(avow, smtp, tenantId, { type: 'portability', email });
    expect(port.verified.dueDate).toBe(plusDays(new Date().toISOString(), 30));
    const ported = await fulfil(token, port.filed.id);
    const link = /Download your data[^:]*: (\S+)/.exec(ported.mail.text ?? '')?.[1] as string;
    const files = await unzip(
      Buffer.from(await (await fetch(`${avow.baseUrl}${new URL(link).pathname}`)).arrayBuffer()),
    );
    expect(files.has('categories/user.payment.csv')).toBe(true);
    const history = JSON.parse(String(files.get('consent-history.json'))) as {
      purpose: string;
      action: string;
    }[];
    expect(history.map((e) => [e.purpose, e.action])).toContainEqual(['cookies', 'given']);
    const data = JSON.parse(String(files.get('data.json'))) as {
      categories: {
        key: string;
        records: { recipients: { name: string }[]; retention: string[] }[];
      }[];
    };
    const payment = data.categories.find((c) => c.key === 'user.payment');
    expect(payment?.records[0]?.retention.join(' ')).toContain('Bookkeeping');

    // Rectification: through the vault, and the recipients to be told are listed (Art. 19).
    const rect = await fileAndVerify(avow, smtp, tenantId, {
      type: 'rectification',
      email,
      corrections: [{ category: 'user.name', value: 'Kari Nordmann' }],
    });
    const rectified = await fulfil(token, rect.filed.id);
    expect(rectified.view.status).toBe('completed');
    expect(rectified.receipt.receipt.actions.join('\n')).toMatch(
      /Art\. 19: the register's recipients of user\.name, to be told of the rectification \(Avow does not contact them\): \S/,
    );
    expect(
      rectified.view.timeline?.some((t) => t.kind === 'step' && t.message.startsWith('Art. 19')),
    ).toBe(true);
    const read = await avow.call<{ records: { category: string; value: unknown }[] }>(
      'GET',
      `/v1/subjects/${subjectId}/data?purpose=provide_service`,
      { token },
    );
    expect(read.body.records.find((r) => r.category === 'user.name')?.value).toBe('Kari Nordmann');

    // Objection per purpose: direct marketing stops, a contract purpose does not.
    expect((await decide(token, subjectId, 'crm')).allowed).toBe(true);
    const obj = await fileAndVerify(avow, smtp, tenantId, {
      type: 'objection',
      email,
      purposes: ['crm', 'provide_service'],
    });
    const objected = await fulfil(token, obj.filed.id);
    expect(objected.view.status).toBe('partially_completed');
    expect(objected.receipt.receipt.actions.join('\n')).toContain('relies on contract');
    expect((await decide(token, subjectId, 'crm')).allowed).toBe(false);
    expect((await decide(token, subjectId, 'provide_service')).allowed).toBe(true);

    // Consent withdrawal through the ledger.
    const wd = await fileAndVerify(avow, smtp, tenantId, { type: 'withdraw_consent', email });
    const withdrawn = await fulfil(token, wd.filed.id);
    expect(withdrawn.receipt.receipt.actions[0]).toContain('consent withdrawn for');
    const state = await avow.call<{ states: { purpose: string; consent: string }[] }>(
      'GET',
      `/v1/consent/state?subjectId=${subjectId}`,
      { token },
    );
    expect(state.body.states.find((s) => s.purpose === 'cookies')?.consent).toBe('withdrawn');

    // Erasure: the bookkeeping data must stay, so the subject is pseudonymised and the answer says why.
    const er = await fileAndVerify(avow, smtp, tenantId, { type: 'erasure', email });
    const erased = await fulfil(token, er.filed.id);
    expect(erased.view.status).toBe('partially_completed');
    const kept = erased.receipt.receipt.kept.map((k) => `${k.what}: ${k.reason}`).join('\n');
    expect(kept).toContain('user.payment');
    expect(kept).toContain('Bookkeeping Act');
    expect(kept).toContain('audit log');
    expect(erased.mail.text).toContain('What we kept, and why:');
    const lookup = await avow.call('POST', '/v1/subjects/lookup', {
      token,
      body: { kind: 'email', value: email },
    });
    expect(lookup.status).toBe(404);
  });
});

describe('Clevenio (two weeks)', () => {
  it('restriction with its ground: verified by an operator, decisions deny all but storage and legal claims, lifting is told', async () => {
    const { tenantId, token } = await tenantWithRegister(avow, 'clevenio.yaml');
    const email = 'liisa@example.fi';
    const subjectId = await subjectWithRecords(avow, token, {
      kind: 'prospect.business_person',
      email,
      records: [
        {
          category: 'user.name',
          value: 'Liisa',
          source: { type: 'public_source', reference: 'https://example.fi/team' },
          purposes: ['lead_database', 'email_marketing'],
        },
      ],
    });
    await inRelationship(token, subjectId);
    const badGround = await avow.call('POST', `/v1/public/tenants/${tenantId}/requests`, {
      token: null,
      body: { type: 'restriction', email, ground: 'because' },
    });
    expect(badGround.status).toBe(400);
    const { filed, verified } = await fileAndVerify(avow, smtp, tenantId, {
      type: 'restriction',
      email,
      ground: 'accuracy_contested',
    });
    expect(verified.dueDate).toBe(plusDays(new Date().toISOString(), 14));
    // Clevenio verifies identity with identifying information: the code confirms the address, an operator verifies.
    expect(verified.status).toBe('identity_pending');
    // The requester has done their part: the clock runs, the request does not
    // expire as unconfirmed, and operators are reminded before it is due.
    const confirmed = await avow.call<RequestView>('GET', `/v1/requests/${filed.id}`, { token });
    expect(confirmed.body.paused).toBe(false);
    const pastDue = new Date(Date.now() + 20 * 24 * 3600 * 1000);
    expect(await avow.services.requests.expireUnverified(pastDue)).toBe(0);
    const dueSoon = new Date(new Date(confirmed.body.dueAt).getTime() - 24 * 3600 * 1000);
    expect(await avow.services.requests.remindOperators(dueSoon)).toBeGreaterThanOrEqual(1);
    await smtp.waitFor((m) => m.subject === `Request ${filed.id} is due on ${verified.dueDate}`);
    const early = await avow.call('POST', `/v1/requests/${filed.id}/fulfil`, { token, body: {} });
    expect(early.status).toBe(409);
    const wrongMethod = await avow.call('POST', `/v1/requests/${filed.id}/transition`, {
      token,
      body: { to: 'verified', method: 'email_code' },
    });
    expect(wrongMethod.status).toBe(400);
    const ok = await avow.call<RequestView>('POST', `/v1/requests/${filed.id}/transition`, {
      token,
      body: { to: 'verified', method: 'identifying_information' },
    });
    expect(ok.status, ok.text).toBe(200);
    expect(ok.body.verificationMethod).toBe('identifying_information');

    expect((await decide(token, subjectId, 'email_marketing')).allowed).toBe(true);
    const restricted = await fulfil(token, filed.id);
    expect(restricted.receipt.receipt.actions[0]).toContain('accuracy_contested');
    expect((await decide(token, subjectId, 'email_marketing')).allowed).toBe(false);
    expect((await decide(token, subjectId, 'lead_database')).allowed).toBe(false);

    const lifted = await avow.call<RequestView>(
      'POST',
      `/v1/requests/${filed.id}/lift-restriction`,
      { token, body: { reason: 'the data was verified as accurate' } },
    );
    expect(lifted.status, lifted.text).toBe(200);
    const notice = await smtp.waitFor(
      (m) => m.subject === `The restriction of your data is being lifted (${filed.id})`,
    );
    expect(notice.text).toContain('the data was verified as accurate');
    // Art. 18(3): the person is told before the restriction is lifted.
    const steps = (lifted.body.timeline ?? [])
      .filter((t) => t.message.includes('lift'))
      .map((t) => t.message);
    expect(steps).toEqual([
      'notice of lifting e-mailed',
      'restriction lifted: the data was verified as accurate',
    ]);
    expect((await decide(token, subjectId, 'email_marketing')).allowed).toBe(true);
    // The ground and the operator's words are about the person: sealed with their data in the log.
    const logged = await avow.call<{
      items: { payload: Record<string, unknown>; personal: Record<string, unknown> }[];
    }>('GET', `/v1/audit?action=subject.restricted&subject=${subjectId}`, { token });
    expect(logged.body.items.map((e) => [e.payload, e.personal])).toEqual([
      [{ lifted: true }, { reason: 'the data was verified as accurate' }],
      [{}, { reason: 'accuracy_contested' }],
    ]);
    const twice = await avow.call('POST', `/v1/requests/${filed.id}/lift-restriction`, {
      token,
      body: { reason: 'again' },
    });
    expect(twice.status).toBe(409);
  });
});

describe('a subject merged before its request is fulfilled', () => {
  it('an objection and a restriction land on the subject it was merged into, not on the tombstone', async () => {
    const { token } = await tenantWithRegister(avow, 'aize.yaml');
    const audited = async (subjectId: string, action: string) =>
      (
        await avow.database.db
          .selectFrom('auditEvents')
          .select('id')
          .where('subjectId', '=', subjectId)
          .where('action', '=', action)
          .execute()
      ).length;
    for (const [type, extra, action] of [
      ['objection', { purposes: ['crm'] }, 'subject.objected'],
      ['restriction', { ground: 'accuracy_contested' }, 'subject.restricted'],
    ] as const) {
      const from = await customer(token, `${type}-from@example.no`);
      const into = await customer(token, `${type}-into@example.no`);
      const created = await avow.call<RequestView>('POST', '/v1/requests', {
        token,
        body: { type, email: `${type}-from@example.no`, subjectId: from, ...extra },
      });
      expect(created.status, created.text).toBe(201);
      const merged = await avow.call('POST', '/v1/subjects/merge', { token, body: { from, into } });
      expect(merged.status, merged.text).toBe(200);
      expect((await decide(token, into, 'crm')).allowed).toBe(true);

      await fulfil(token, created.body.id);
      // Decisions read the subject the person now is: the request reached it.
      const after = await decide(token, into, 'crm');
      expect(after.allowed, type).toBe(false);
      expect(after.reasons.length).toBeGreaterThan(0);
      expect(await audited(into, action)).toBe(1);
      expect(await audited(from, action)).toBe(0);
    }
  });
});

describe('two restriction requests on one subject', () => {
  type Logged = { items: { payload: Record<string, unknown> }[] };

  /** A customer in a relationship (crm is allowed), restricted by a request of their own. */
  async function restrictedPerson(token: string, email: string) {
    const subjectId = await customer(token, email);
    const created = await avow.call<RequestView>('POST', '/v1/requests', {
      token,
      body: { type: 'restriction', email, subjectId, ground: 'accuracy_contested' },
    });
    expect(created.status, created.text).toBe(201);
    await fulfil(token, created.body.id);
    expect((await decide(token, subjectId, 'crm')).allowed).toBe(false);
    return { subjectId, requestId: created.body.id };
  }

  async function merge(token: string, from: string, into: string) {
    const merged = await avow.call('POST', '/v1/subjects/merge', { token, body: { from, into } });
    expect(merged.status, merged.text).toBe(200);
  }

  /** Lifts a request's restriction; its requester is told either way. */
  async function lift(token: string, requestId: string) {
    const lifted = await avow.call<RequestView>(
      'POST',
      `/v1/requests/${requestId}/lift-restriction`,
      { token, body: { reason: 'accuracy verified' } },
    );
    expect(lifted.status, lifted.text).toBe(200);
    await smtp.waitFor(
      (m) => m.subject === `The restriction of your data is being lifted (${requestId})`,
    );
    return lifted.body;
  }

  async function lastRestrictionAudit(token: string, subjectId: string) {
    const logged = await avow.call<Logged>(
      'GET',
      `/v1/audit?action=subject.restricted&subject=${subjectId}`,
      { token },
    );
    expect(logged.status, logged.text).toBe(200);
    return logged.body.items[0]?.payload;
  }

  it('lifting one leaves the subject restricted while the other is in force, whichever way the merge went', async () => {
    const { token } = await tenantWithRegister(avow, 'aize.yaml');
    for (const direction of ['a into b', 'b into a'] as const) {
      const a = await restrictedPerson(token, `${direction.replaceAll(' ', '-')}-a@example.no`);
      const b = await restrictedPerson(token, `${direction.replaceAll(' ', '-')}-b@example.no`);
      const [from, into] = direction === 'a into b' ? [a, b] : [b, a];
      const restrictedAt = async (subjectId: string) => {
        const reply = await avow.call<{ subject: { restrictedAt: string | null } }>(
          'GET',
          `/v1/subjects/${subjectId}`,
          { token },
        );
        expect(reply.status, reply.text).toBe(200);
        return reply.body.subject.restrictedAt;
      };
      const aSince = await restrictedAt(a.subjectId);
      await merge(token, from.subjectId, into.subjectId);
      expect((await decide(token, into.subjectId, 'crm')).allowed, direction).toBe(false);
      // Restricted since a's (the earlier), whichever subject it was.
      expect(await restrictedAt(into.subjectId), direction).toBe(aSince);

      // a's restriction is lifted (and a's requester told); b's still holds the subject.
      const liftedA = await lift(token, a.requestId);
      expect((await decide(token, into.subjectId, 'crm')).allowed, direction).toBe(false);
      expect(liftedA.timeline?.map((t) => t.message)).toEqual(
        expect.arrayContaining([
          'restriction lifted: accuracy verified',
          `the subject stays restricted: restriction request ${b.requestId} is still in force`,
        ]),
      );
      expect(await lastRestrictionAudit(token, into.subjectId)).toEqual({
        lifted: true,
        stillRestrictedBy: [b.requestId],
      });
      const again = await avow.call('POST', `/v1/requests/${a.requestId}/lift-restriction`, {
        token,
        body: { reason: 'again' },
      });
      expect(again.status).toBe(409);

      // The last one lifted clears the subject's restriction.
      await lift(token, b.requestId);
      expect((await decide(token, into.subjectId, 'crm')).allowed, direction).toBe(true);
      expect(await lastRestrictionAudit(token, into.subjectId)).toEqual({ lifted: true });
    }
  });

  it('two requests of one person on the same subject: lifting the first leaves the second in force', async () => {
    const { token } = await tenantWithRegister(avow, 'aize.yaml');
    const email = 'twice@example.no';
    const first = await restrictedPerson(token, email);
    const second = await avow.call<RequestView>('POST', '/v1/requests', {
      token,
      body: {
        type: 'restriction',
        email,
        subjectId: first.subjectId,
        ground: 'unlawful_processing',
      },
    });
    expect(second.status, second.text).toBe(201);
    const restriction = async () => {
      const reply = await avow.call<{
        subject: { restrictedAt: string | null; restrictionGround: string | null };
      }>('GET', `/v1/subjects/${first.subjectId}`, { token });
      expect(reply.status, reply.text).toBe(200);
      const { restrictedAt, restrictionGround } = reply.body.subject;
      return { restrictedAt, restrictionGround };
    };
    const sinceFirst = await restriction();
    expect(sinceFirst.restrictionGround).toBe('accuracy_contested');
    await fulfil(token, second.body.id);
    // Restricted since the first: the second does not move the time or the ground.
    expect(await restriction()).toEqual(sinceFirst);

    await lift(token, first.requestId);
    expect((await decide(token, first.subjectId, 'crm')).allowed).toBe(false);
    // What remains is the second's restriction: its ground, since it was fulfilled.
    const sinceSecond = await restriction();
    expect(sinceSecond.restrictionGround).toBe('unlawful_processing');
    expect(Date.parse(sinceSecond.restrictedAt ?? '')).toBeGreaterThan(
      Date.parse(sinceFirst.restrictedAt ?? ''),
    );
    await lift(token, second.body.id);
    expect((await decide(token, first.subjectId, 'crm')).allowed).toBe(true);
    expect(await restriction()).toEqual({ restrictedAt: null, restrictionGround: null });
    // Each notice says what is about to happen: the first, that processing stays restricted.
    const notice = (id: string) =>
      smtp.messages.find(
        (m) => m.subject === `The restriction of your data is being lifted (${id})`,
      )?.text ?? '';
    expect(notice(first.requestId)).toContain(
      'its processing stays restricted until that one is lifted',
    );
    expect(notice(first.requestId)).not.toContain('again as before');
    expect(notice(second.body.id)).toContain('we will process this data again as before');
  });

  it('two lifts at once: neither counts on the other, so the subject is free once both are lifted', async () => {
    const { token } = await tenantWithRegister(avow, 'aize.yaml');
    const a = await restrictedPerson(token, 'race-a@example.no');
    const b = await restrictedPerson(token, 'race-b@example.no');
    await merge(token, a.subjectId, b.subjectId);

    const both = await Promise.all([lift(token, a.requestId), lift(token, b.requestId)]);
    // Exactly one of them saw the other still in force.
    expect(
      both.filter((r) =>
        r.timeline?.some((t) => t.message.startsWith('the subject stays restricted')),
      ),
    ).toHaveLength(1);
    expect((await decide(token, b.subjectId, 'crm')).allowed).toBe(true);
  });

  it('a chain of merges: the subject stays restricted until the last request that landed on it is lifted', async () => {
    const { token } = await tenantWithRegister(avow, 'aize.yaml');
    const a = await restrictedPerson(token, 'chain-a@example.no');
    const b = await restrictedPerson(token, 'chain-b@example.no');
    const c = await restrictedPerson(token, 'chain-c@example.no');
    await merge(token, a.subjectId, b.subjectId);
    await merge(token, b.subjectId, c.subjectId);

    await lift(token, c.requestId);
    expect((await decide(token, c.subjectId, 'crm')).allowed).toBe(false);
    expect(await lastRestrictionAudit(token, c.subjectId)).toEqual({
      lifted: true,
      stillRestrictedBy: [a.requestId, b.requestId].sort(),
    });
    await lift(token, b.requestId);
    expect((await decide(token, c.subjectId, 'crm')).allowed).toBe(false);
    await lift(token, a.requestId);
    expect((await decide(token, c.subjectId, 'crm')).allowed).toBe(true);
  });
});

describe('deadlines (demo register: extension allowed)', () => {
  it('extends once with a reason sent to the requester, pauses while waiting, reminds and lists overdue', async () => {
    const { tenantId, token } = await tenantWithRegister(avow, 'demo.yaml');
    const created = await avow.call<RequestView>('POST', '/v1/requests', {
      token,
      body: { type: 'access', email: 'api-user@example.com' },
    });
    expect(created.status, created.text).toBe(201);
    expect(created.body.status).toBe('verified');
    expect(created.body.verificationMethod).toBe('authenticated_session');
    const id = created.body.id;

    const extended = await avow.call<RequestView>('POST', `/v1/requests/${id}/extend`, {
      token,
      body: { duration: 'P2M', reason: 'the request covers many systems' },
    });
    expect(extended.status, extended.text).toBe(200);
    expect(extended.body.extension).toBe('P2M');
    expect(extended.body.dueDate).toBe(
      addDuration(new Date(`${created.body.receivedAt.slice(0, 10)}T00:00:00Z`), {
        years: 0,
        months: 3,
        weeks: 0,
        days: 0,
      })
        .toISOString()
        .slice(0, 10),
    );
    const notice = await smtp.waitFor(
      (m) => m.subject === `More time is needed for your request ${id}`,
    );
    expect(notice.text).toContain('the request covers many systems');
    const again = await avow.call('POST', `/v1/requests/${id}/extend`, {
      token,
      body: { reason: 'more' },
    });
    expect(again.status).toBe(409);
    const tooLong = await avow.call('POST', `/v1/requests/${id}/extend`, {
      token,
      body: { duration: 'P3M', reason: 'x' },
    });
    expect(tooLong.status).toBe(400);
    const empty = await avow.call('POST', `/v1/requests/${id}/extend`, {
      token,
      body: { duration: 'P', reason: 'x' },
    });
    expect(empty.status).toBe(400);

    const started = await avow.call<RequestView>('POST', `/v1/requests/${id}/transition`, {
      token,
      body: { to: 'in_progress' },
    });
    expect(started.body.status).toBe('in_progress');
    const waiting = await avow.call<RequestView>('POST', `/v1/requests/${id}/transition`, {
      token,
      body: { to: 'awaiting_requester', reason: 'which of your two accounts?' },
    });
    expect(waiting.body.paused).toBe(true);
    // Its clock is stopped: even past the due date it set, a paused request is not overdue.
    await avow.database.db
      .updateTable('rightsRequests')
      .set({ dueAt: new Date(Date.now() - 24 * 3600 * 1000) })
      .where('id', '=', id)
      .execute();
    const stopped = await avow.call<RequestView>('GET', `/v1/requests/${id}`, { token });
    expect(stopped.body).toMatchObject({ paused: true, overdue: false });
    const overdueList = await avow.call<{ items: RequestView[] }>(
      'GET',
      '/v1/requests?overdue=true',
      { token },
    );
    expect(overdueList.body.items.map((r) => r.id)).not.toContain(id);
    await smtp.waitFor((m) => m.subject === `We need something from you for request ${id}`);
    const resumed = await avow.call<RequestView>('POST', `/v1/requests/${id}/transition`, {
      token,
      body: { to: 'in_progress' },
    });
    expect(resumed.body.paused).toBe(false);

    // Operators are reminded before the due date, once; an overdue request stands out in the list.
    const other = await avow.call<RequestView>('POST', '/v1/requests', {
      token,
      body: { type: 'erasure', email: 'late@example.com' },
    });
    const dueSoon = new Date(new Date(other.body.dueAt).getTime() - 24 * 3600 * 1000);
    expect(await avow.services.requests.remindOperators(dueSoon)).toBeGreaterThanOrEqual(1);
    await smtp.waitFor(
      (m) => m.subject === `Request ${other.body.id} is due on ${other.body.dueDate}`,
    );
    expect(await avow.services.requests.remindOperators(dueSoon)).toBe(0);
    // Once more when it is overdue, and again for a deadline that moved.
    const overdue = new Date(new Date(other.body.dueAt).getTime() + 24 * 3600 * 1000);
    expect(await avow.services.requests.remindOperators(overdue)).toBeGreaterThanOrEqual(1);
    await smtp.waitFor((m) => m.subject === `OVERDUE: request ${other.body.id}`);
    expect(await avow.services.requests.remindOperators(overdue)).toBe(0);
    const moved = await avow.call<RequestView>('POST', `/v1/requests/${other.body.id}/extend`, {
      token,
      body: { duration: 'P1M', reason: 'several systems' },
    });
    expect(moved.status, moved.text).toBe(200);
    const newDueSoon = new Date(new Date(moved.body.dueAt).getTime() - 24 * 3600 * 1000);
    expect(await avow.services.requests.remindOperators(newDueSoon)).toBeGreaterThanOrEqual(1);
    await smtp.waitFor(
      (m) => m.subject === `Request ${other.body.id} is due on ${moved.body.dueDate}`,
    );
    const none = await avow.call<{ items: RequestView[] }>('GET', '/v1/requests?overdue=true', {
      token,
    });
    expect(none.body.items).toEqual([]);
    const all = await avow.call<{ items: RequestView[] }>('GET', '/v1/requests?sort=due', {
      token,
    });
    expect(all.body.items.map((r) => r.id)).toEqual([other.body.id, id]);

    // A request never verified expires after the register's period, with a notice.
    const unverified = await avow.call<{ id: string }>(
      'POST',
      `/v1/public/tenants/${tenantId}/requests`,
      { token: null, body: { type: 'access', email: 'ghost@example.com' } },
    );
    const later = new Date(Date.now() + 40 * 24 * 3600 * 1000);
    expect(await avow.services.requests.expireUnverified(later)).toBe(1);
    await smtp.waitFor((m) => m.subject === `Your request ${unverified.body.id} expired`);
    const expired = await avow.call<RequestView>('GET', `/v1/requests/${unverified.body.id}`, {
      token,
    });
    expect(expired.body.status).toBe('expired');

    // Nothing is done to a request waiting for its requester: fulfil is refused first.
    const erasure = await avow.call<RequestView>('POST', '/v1/requests', {
      token,
      body: { type: 'erasure', email: 'waiting@example.com' },
    });
    const subjectId = await subjectWithRecords(avow, token, {
      kind: 'customer',
      email: 'waiting@example.com',
      records: [
        { category: 'user.contact.email', value: 'waiting@example.com', purposes: ['newsletter'] },
      ],
    });
    for (const to of ['in_progress', 'awaiting_requester'])
      await avow.call('POST', `/v1/requests/${erasure.body.id}/transition`, {
        token,
        body: { to, reason: 'which account?' },
      });
    const refused = await avow.call<{ error: { message: string } }>(
      'POST',
      `/v1/requests/${erasure.body.id}/fulfil`,
      { token, body: {} },
    );
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toContain('move it back to in_progress');
    const kept = await avow.call<{ subject: { status: string }; records: unknown[] }>(
      'GET',
      `/v1/subjects/${subjectId}`,
      { token },
    );
    expect(kept.body.subject.status).toBe('active');
    await avow.call('POST', `/v1/requests/${erasure.body.id}/transition`, {
      token,
      body: { to: 'rejected', reason: 'test over' },
    });
  });
});

describe('a subject erased before its request is fulfilled', () => {
  it('an objection, a restriction and an access request answer that nothing is held, and write nothing on the tombstone', async () => {
    const { token } = await tenantWithRegister(avow, 'aize.yaml');
    for (const [type, extra] of [
      ['objection', { purposes: ['crm'] }],
      ['restriction', { ground: 'accuracy_contested' }],
      ['access', {}],
    ] as const) {
      const email = `${type}-erased@example.no`;
      const subjectId = await subjectWithRecords(avow, token, {
        kind: 'customer.user',
        email,
        records: [{ category: 'user.name', value: 'Kari', purposes: ['provide_service', 'crm'] }],
      });
      const created = await avow.call<RequestView>('POST', '/v1/requests', {
        token,
        body: { type, email, subjectId, ...extra },
      });
      expect(created.status, created.text).toBe(201);
      const erased = await avow.call('POST', `/v1/subjects/${subjectId}/erase`, {
        token,
        body: {},
      });
      expect(erased.status, erased.text).toBe(200);

      const { view } = await fulfil(token, created.body.id);
      expect(view.status, type).toBe('completed');
      expect(view.outcome?.actions[0], type).toMatch(
        /^no personal data is held under this identity; (nothing needed to be done|the archive says so)$/,
      );
      const db = avow.database.db;
      const states = await db
        .selectFrom('subjectPurposeState')
        .select('purpose')
        .where('subjectId', '=', subjectId)
        .execute();
      expect(states, type).toEqual([]);
      const subject = await db
        .selectFrom('subjects')
        .select(['status', 'restrictedAt'])
        .where('id', '=', subjectId)
        .executeTakeFirstOrThrow();
      expect(subject, type).toEqual({ status: 'erased', restrictedAt: null });
      const acted = await db
        .selectFrom('auditEvents')
        .select('action')
        .where('subjectId', '=', subjectId)
        .where('action', 'in', ['subject.objected', 'subject.restricted'])
        .execute();
      expect(acted, type).toEqual([]);
    }
  });

  it('a restriction whose subject was erased afterwards cannot be lifted: nothing is left to lift, and no notice is mailed', async () => {
    const { token } = await tenantWithRegister(avow, 'aize.yaml');
    const email = 'lift-erased@example.no';
    const subjectId = await subjectWithRecords(avow, token, {
      kind: 'customer.user',
      email,
      records: [{ category: 'user.name', value: 'Kari', purposes: ['provide_service'] }],
    });
    const created = await avow.call<RequestView>('POST', '/v1/requests', {
      token,
      body: { type: 'restriction', email, subjectId, ground: 'accuracy_contested' },
    });
    expect(created.status, created.text).toBe(201);
    await fulfil(token, created.body.id);
    const erased = await avow.call('POST', `/v1/subjects/${subjectId}/erase`, { token, body: {} });
    expect(erased.status, erased.text).toBe(200);

    const lift = await avow.call<{ error: { message: string; details: unknown[] } }>(
      'POST',
      `/v1/requests/${created.body.id}/lift-restriction`,
      { token, body: { reason: 'accuracy verified' } },
    );
    expect(lift.status, lift.text).toBe(409);
    expect(lift.body.error.message).toContain('nothing left to lift');
    expect(lift.body.error.details).toEqual([{ path: 'requestId', message: 'subject erased' }]);
    expect(
      smtp.messages.some(
        (m) => m.subject === `The restriction of your data is being lifted (${created.body.id})`,
      ),
    ).toBe(false);
  });
});

describe('an objection that names no purpose', () => {
  it('objects to all processing it can stop, and tells the person what goes on and why', async () => {
    const { token } = await tenantWithRegister(avow, 'aize.yaml');
    const email = 'all@example.no';
    const subjectId = await customer(token, email);
    const created = await avow.call<RequestView>('POST', '/v1/requests', {
      token,
      body: { type: 'objection', email, subjectId },
    });
    expect(created.status, created.text).toBe(201);

    const { view, receipt } = await fulfil(token, created.body.id);
    expect(view.status).toBe('partially_completed');
    const actions = receipt.receipt.actions.join('\n');
    expect(actions).toContain('processing for these purposes stopped');
    expect(actions).toMatch(
      /not stopped: .*relies on contract, to which the right to object does not apply/,
    );
    expect((await decide(token, subjectId, 'crm')).allowed).toBe(false);
    expect((await decide(token, subjectId, 'provide_service')).allowed).toBe(true);
  });
});
