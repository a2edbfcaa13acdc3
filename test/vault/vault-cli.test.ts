import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAvow, type TestAvow } from '../support/avow.js';
import { runAvow } from '../support/processes.js';
import { activateTestRegister } from './support.js';

/** `avow subjects …` as a user runs it: its own process, the real server. */
let avow: TestAvow;
let cli: Record<string, string>;
let token: string;

beforeAll(async () => {
  avow = await startTestAvow();
  const tenant = await avow.tenantWithKey(['admin']);
  token = tenant.token;
  await activateTestRegister(avow, tenant.tenantId);
  cli = { AVOW_URL: avow.baseUrl, AVOW_API_KEY: token };
});
afterAll(async () => avow.close());

async function newSubject(email: string): Promise<string> {
  const reply = await avow.call<{ subject: { id: string } }>('POST', '/v1/subjects', {
    token,
    body: { kind: 'customer', identities: [{ kind: 'email', value: email }] },
  });
  expect(reply.status, reply.text).toBe(201);
  return reply.body.subject.id;
}

describe('avow subjects update and show', () => {
  it('sets timestamps and fulfilled purposes, shows them, and takes them back', async () => {
    const id = await newSubject('cli@example.com');
    const updated = await runAvow(
      [
        'subjects',
        'update',
        id,
        '--relationship-ended-at',
        '2026-01-31T12:00:00Z',
        '--fulfilled',
        'service=2026-02-01T00:00:00+02:00',
        '--fulfilled',
        'newsletter',
      ],
      cli,
    );
    expect(updated.stderr).toBe('');
    expect(updated.code).toBe(0);
    expect(updated.stdout).toContain(`Updated ${id}: relationshipEndedAt, fulfilledPurposes.`);

    const shown = await runAvow(['subjects', 'show', id], cli);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('relationshipEndedAt: 2026-01-31T12:00:00.000Z');
    expect(shown.stdout).toMatch(/^service\s+-\s+-\s+-\s+-\s+2026-01-31T22:00:00\.000Z$/m);
    expect(shown.stdout).toMatch(/^newsletter\s+.*\d{4}-\d\d-\d\dT/m);

    const decided = await runAvow(['decide', '--subject', id, '--purpose', 'service'], cli);
    expect(decided.stdout).toContain('purpose_fulfilled');

    const undone = await runAvow(
      ['subjects', 'update', id, '--not-fulfilled', 'service', '--relationship-ended-at', 'none'],
      cli,
    );
    expect(undone.code).toBe(0);
    const json = await runAvow(['subjects', 'show', id, '--json'], cli);
    const view = JSON.parse(json.stdout) as {
      subject: { relationshipEndedAt: string | null };
      purposeStates: { purpose: string; fulfilledAt: string | null }[];
    };
    expect(view.subject.relationshipEndedAt).toBeNull();
    expect(view.purposeStates.find((s) => s.purpose === 'service')?.fulfilledAt).toBeNull();
  });

  it('a purpose the register does not have fails with the allowed ones (exit 1); nothing to change is a usage error (exit 2)', async () => {
    const id = await newSubject('cli-wrong@example.com');
    const wrong = await runAvow(['subjects', 'update', id, '--fulfilled', 'billing'], cli);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain(
      'body.fulfilledPurposes.billing: allowed: service, newsletter, analytics',
    );
    const badTime = await runAvow(['subjects', 'update', id, '--role-ended-at', 'yesterday'], cli);
    expect(badTime.code).toBe(1);
    expect(badTime.stderr).toContain('body.roleEndedAt');
    const both = await runAvow(
      ['subjects', 'update', id, '--fulfilled', 'service', '--not-fulfilled', 'service'],
      cli,
    );
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('service is given to both --fulfilled and --not-fulfilled');
    const nothing = await runAvow(['subjects', 'update', id], cli);
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toContain('Nothing to change');
  });
});
