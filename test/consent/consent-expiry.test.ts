import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobContext } from '../../src/jobs/jobs.js';
import { renderPolicy } from '../../src/register/render.js';
import { validateRegister } from '../../src/register/validate.js';
import { jobDefinitions } from '../../src/server/app.js';
import { startTestAvow, type TestAvow } from '../support/avow.js';
import { consentRegisterYaml, newSubject, publishRegister } from './consent-fixture.js';

/** The consent register, with newsletter consent that lasts thirteen months. */
const lastingYaml = consentRegisterYaml().replace(
  '      text: Send me the monthly newsletter.\n',
  '      text: Send me the monthly newsletter.\n      validFor: P13M\n',
);

type State = { purpose: string; consent: string | null; effective: string };
type Decision = { allowed: boolean; reasons: string[] };

let avow: TestAvow;
beforeAll(async () => {
  avow = await startTestAvow();
});
afterAll(async () => {
  await avow.close();
});

async function give(token: string, subjectId: string) {
  const reply = await avow.call('POST', '/v1/consent/events', {
    token,
    body: { subjectId, purposes: [{ purpose: 'newsletter', action: 'given' }] },
  });
  expect(reply.status, reply.text).toBe(201);
}

/** Consent (and what decisions know of it) given `months` ago. */
async function givenMonthsAgo(tenantId: string, holderId: string, months: number) {
  const at = new Date();
  at.setUTCMonth(at.getUTCMonth() - months);
  const db = avow.database.db;
  await sql`update consent_state set consent_at = ${at}
    where tenant_id = ${tenantId} and holder_id = ${holderId}`.execute(db);
  await sql`update subject_purpose_state set consent_at = ${at}
    where tenant_id = ${tenantId} and subject_id = ${holderId}`.execute(db);
}

const decide = async (token: string, subjectId: string) =>
  (
    await avow.call<Decision>('POST', '/v1/decisions', {
      token,
      body: { subjectId, purpose: 'newsletter' },
    })
  ).body;

const stateOf = async (token: string, subjectId: string) =>
  (
    await avow.call<{ states: State[] }>('GET', `/v1/consent/state?subjectId=${subjectId}`, {
      token,
    })
  ).body.states.find((s) => s.purpose === 'newsletter');

describe('consent that lasts a set time', () => {
  it('expires consent older than validFor, with a ledger event, an audit entry and decisions that follow', async () => {
    const { tenantId, token } = await avow.tenantWithKey(['admin']);
    await publishRegister(avow, token, lastingYaml);
    const old = await newSubject(avow, token);
    const recent = await newSubject(avow, token);
    await give(token, old);
    await give(token, recent);
    await givenMonthsAgo(tenantId, old, 14);
    await givenMonthsAgo(tenantId, recent, 12);
    // A banner visitor's consent lapses the same way.
    const { visitorId } = await avow.services.consent.newVisitor(tenantId);
    await avow.services.consent.record({
      tenantId,
      holder: { visitorId },
      changes: [{ purpose: 'newsletter', action: 'given' }],
      channel: 'banner',
      context: { actor: { type: 'system', id: 'test' } },
    });
    await givenMonthsAgo(tenantId, visitorId, 14);
    // A person who was erased gets no new ledger entries, lapsed consent or not.
    const erased = await newSubject(avow, token);
    await give(token, erased);
    await givenMonthsAgo(tenantId, erased, 14);
    const erasure = await avow.call('POST', `/v1/subjects/${erased}/erase`, { token, body: {} });
    expect(erasure.status, erasure.text).toBe(200);
    // Decisions stop counting lapsed consent at once; the job records the expiry.
    expect(await decide(token, old)).toMatchObject({
      allowed: false,
      reasons: ['consent_missing'],
    });
    expect(await stateOf(token, old)).toMatchObject({ consent: 'given' });

    expect(await avow.services.consent.expireLapsed(tenantId)).toEqual({ expired: 2 });

    expect(await stateOf(token, old)).toMatchObject({ consent: 'expired', effective: 'not_given' });
    expect(await decide(token, old)).toMatchObject({ allowed: false });
    expect(await stateOf(token, recent)).toMatchObject({ consent: 'given', effective: 'given' });
    expect(await decide(token, recent)).toMatchObject({ allowed: true });
    const visitor = await avow.services.consent.currentStates(tenantId, { visitorId });
    expect(visitor.states).toEqual([expect.objectContaining({ consent: 'expired' })]);

    const history = await avow.call<{ items: { action: string; channel: string }[] }>(
      'GET',
      `/v1/consent/events?subjectId=${old}`,
      { token },
    );
    expect(history.status, history.text).toBe(200);
    expect(history.body.items.map((e) => [e.action, e.channel])).toContainEqual([
      'expired',
      'expiry',
    ]);
    const audited = await avow.database.db
      .selectFrom('auditEvents')
      .select(['actorType', 'actorId', 'subjectId', 'purpose'])
      .where('tenantId', '=', tenantId)
      .where('action', '=', 'consent.expired')
      .execute();
    expect(audited).toContainEqual({
      actorType: 'system',
      actorId: 'consent-expiry',
      subjectId: old,
      purpose: 'newsletter',
    });

    // Nothing left to expire; consent given again starts a new period.
    expect(await avow.services.consent.expireLapsed(tenantId)).toEqual({ expired: 0 });
    await give(token, old);
    expect(await decide(token, old)).toMatchObject({ allowed: true });
    expect(await avow.services.consent.expireLapsed(tenantId)).toEqual({ expired: 0 });
  });

  it('runs every hour for every tenant as the consent.expire job', async () => {
    const { tenantId, token } = await avow.tenantWithKey(['admin']);
    await publishRegister(avow, token, lastingYaml);
    const subjectId = await newSubject(avow, token);
    await give(token, subjectId);
    await givenMonthsAgo(tenantId, subjectId, 13);
    await sql`update consent_state set consent_at = consent_at - interval '1 day'
      where tenant_id = ${tenantId}`.execute(avow.database.db);

    const job = jobDefinitions(avow.services).find((j) => j.name === 'consent.expire');
    expect(job?.schedule?.cron).toBe('27 * * * *');
    await job?.handler({}, { id: 'test', attempt: 1, retryLimit: 0 } as JobContext);
    expect(await stateOf(token, subjectId)).toMatchObject({ consent: 'expired' });
  });

  it('goes on with the other tenants when one fails, and then reports it', async () => {
    const broken = await avow.tenantWithKey(['admin']);
    await publishRegister(avow, broken.token, lastingYaml);
    // A state whose holder is no subject: recording its expiry fails.
    await sql`insert into consent_state (tenant_id, holder_id, purpose, medium, consent, consent_at,
        channel, last_event_id, updated_at)
      values (${broken.tenantId}, 'sub_00000000000000000000000000', 'newsletter', 'all', 'given',
        now() - interval '2 years', 'api', 'cev_none', now())`.execute(avow.database.db);
    const { tenantId, token } = await avow.tenantWithKey(['admin']);
    await publishRegister(avow, token, lastingYaml);
    const subjectId = await newSubject(avow, token);
    await give(token, subjectId);
    await givenMonthsAgo(tenantId, subjectId, 14);

    const job = jobDefinitions(avow.services).find((j) => j.name === 'consent.expire');
    const run = job?.handler({}, { id: 'test', attempt: 1, retryLimit: 0 } as JobContext);
    await expect(run).rejects.toThrow(
      new RegExp(`^1 of \\d+ tenants failed \\(the others ran\\): ${broken.tenantId}: `),
    );
    // Tenants after the broken one were still served.
    expect(broken.tenantId < tenantId).toBe(true);
    expect(await stateOf(token, subjectId)).toMatchObject({ consent: 'expired' });
  });

  it('says in the policy how long consent lasts, and refuses a validFor that cannot work', () => {
    const valid = validateRegister(lastingYaml);
    if (!valid.ok) throw new Error(valid.problems.map((p) => p.message).join('; '));
    expect(renderPolicy(valid.register, 'md')).toContain(
      'your consent lasts 13 calendar months, and then we ask again',
    );

    const instant = validateRegister(lastingYaml.replace('validFor: P13M', 'validFor: P0D'));
    expect(instant.ok).toBe(false);
    expect(instant.problems).toContainEqual(
      expect.objectContaining({
        path: 'purposes[2].consent.validFor',
        allowed: 'a duration longer than zero, such as P13M',
      }),
    );
    const wrong = validateRegister(lastingYaml.replace('validFor: P13M', 'validFor: 13 months'));
    expect(wrong.problems).toContainEqual(
      expect.objectContaining({ path: 'purposes[2].consent.validFor' }),
    );
  });
});

describe('consent and a fulfilled purpose', () => {
  it('consent given again starts a purpose that had been fulfilled for the person', async () => {
    const { token } = await avow.tenantWithKey(['admin']);
    await publishRegister(avow, token, lastingYaml);
    const subject = await newSubject(avow, token);
    await give(token, subject);
    const fulfilled = await avow.call('PATCH', `/v1/subjects/${subject}`, {
      token,
      body: { fulfilledPurposes: { newsletter: new Date(Date.now() - 60_000).toISOString() } },
    });
    expect(fulfilled.status, fulfilled.text).toBe(200);
    expect(await decide(token, subject)).toMatchObject({ reasons: ['purpose_fulfilled'] });
    // Another event that gives nothing new leaves the fulfilment alone.
    const objected = await avow.call('POST', '/v1/consent/events', {
      token,
      body: { subjectId: subject, purposes: [{ purpose: 'newsletter', action: 'objected' }] },
    });
    expect(objected.status, objected.text).toBe(201);
    expect((await decide(token, subject)).reasons).toContain('purpose_fulfilled');
    await give(token, subject);
    expect(await decide(token, subject)).toMatchObject({ allowed: true, reasons: [] });
  });
});
