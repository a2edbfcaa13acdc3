import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ledgerRows } from '../consent/consent-fixture.js';
import { startTestAvow, type TestAvow } from '../support/avow.js';
import { boundaryRegister, client, daysAgo } from './support.js';

/**
 * A sweep that empties a subject erases it as a whole, and the consent ledger
 * forgets the person as an erasure through the vault makes it forget
 * (docs/consent.md "Erased subjects"): the derived state goes, the events kept
 * as evidence lose their address and agent, the subjects merged into it too.
 */

let avow: TestAvow;
let api: ReturnType<typeof client>;
let token: string;
let tenantId: string;
beforeAll(async () => {
  avow = await startTestAvow();
  const tenant = await avow.tenantWithKey(['admin', 'consent:write', 'vault:read']);
  tenantId = tenant.tenantId;
  token = tenant.token;
  api = client(avow, token);
  await api.publish(boundaryRegister);
});
afterAll(async () => avow.close());

const agent = 'Mozilla/5.0 (X11; Linux x86_64) SweepConsentTest/1.0';

async function giveConsent(subjectId: string, ip: string) {
  const reply = await avow.call('POST', '/v1/consent/events', {
    token,
    body: {
      subjectId,
      channel: 'form',
      purposes: [{ purpose: 'newsletter', action: 'given' }],
      ip,
      userAgent: agent,
    },
  });
  expect(reply.status, reply.text).toBe(201);
}

describe('retention: a subject the sweep erases', () => {
  it('leaves no consent state, and its events (and its merged subject’s) no address or agent', async () => {
    // Relationship ended 200 days ago and nothing is kept: the sweep erases the subject.
    const ended = { relationshipEndedAt: daysAgo(200) };
    const person = await api.subject('swept@example.com', 'customer', ended);
    await api.records(person, [
      { category: 'user.name', purposes: ['service'], collectedAt: daysAgo(900) },
    ]);
    const other = await api.subject('swept-too@example.com', 'customer', ended);
    await giveConsent(person, '203.0.113.7');
    await giveConsent(other, '198.51.100.9');
    const merged = await api.call('POST', '/v1/subjects/merge', { from: other, into: person });
    expect(merged.status, merged.text).toBe(200);
    // A customer whose records are kept: the sweep leaves their ledger alone.
    const kept = await api.subject('kept@example.com');
    await giveConsent(kept, '192.0.2.1');

    const before = await ledgerRows(avow, tenantId, [person, other, kept]);
    // Sealed under each holder's key, nothing in clear.
    expect(before.events.every((e) => e.sealed !== null && e.ipAnonymised === null)).toBe(true);
    expect(before.states.map((s) => s.holderId).sort()).toEqual([kept, person].sort());

    const run = await api.sweep();
    expect(run.report).toMatchObject({ subjectsErased: 1 });
    expect((await api.view(person)).subject.status).toBe('erased');

    const after = await ledgerRows(avow, tenantId, [person, other, kept]);
    expect(after.states).toEqual([{ holderId: kept, purpose: 'newsletter' }]);
    const forgotten = after.events.filter((e) => e.holderId !== kept);
    expect(forgotten).toHaveLength(2);
    expect(forgotten.every((e) => e.sealed === null && e.userAgent === null)).toBe(true);
    for (const holder of [person, other]) {
      const key = await avow.services.subjectKeys.get(avow.database.db, tenantId, holder);
      expect(key.state, holder).toBe('destroyed');
    }
    expect(after.events.find((e) => e.holderId === kept)?.sealed).not.toBeNull();
    const history = await avow.call<{
      items: { ipAnonymised: string | null; userAgent: string | null }[];
    }>('GET', `/v1/consent/events?subjectId=${kept}`, { token });
    expect(history.status, history.text).toBe(200);
    expect(history.body.items).toEqual([
      expect.objectContaining({ ipAnonymised: '192.0.2.0', userAgent: agent }),
    ]);
  });
});
