import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAvow, type TestAvow } from '../support/avow.js';
import { activateTestRegister } from './support.js';

/**
 * A pseudonymisation that is the first use of the blind index after a start
 * (a retention sweep at night, say, before anyone looked a subject up) must
 * not wait on itself: the index key is read once per process, and on the
 * embedded database a read inside the pseudonymisation's transaction waited
 * for that transaction's own connection, for ever.
 */

let avow: TestAvow;
let token: string;
beforeAll(async () => {
  avow = await startTestAvow();
  const tenant = await avow.tenantWithKey(['vault:read', 'vault:write']);
  token = tenant.token;
  await activateTestRegister(avow, tenant.tenantId);
});
afterAll(async () => avow.close());

describe('pseudonymisation as the first use of the blind index', () => {
  it('answers with the pseudonym', async () => {
    // No identities: creating the subject does not touch the blind index.
    const created = await avow.call<{ subject: { id: string } }>('POST', '/v1/subjects', {
      token,
      body: { kind: 'customer' },
    });
    expect(created.status, created.text).toBe(201);
    const subjectId = created.body.subject.id;

    const done = await avow.call<{ pseudonym: string }>(
      'POST',
      `/v1/subjects/${subjectId}/pseudonymize`,
      { token, body: {} },
    );
    expect(done.status, done.text).toBe(200);
    expect(done.body.pseudonym).toMatch(/^pse_[0-9a-f]{24}$/);
    const subject = await avow.call<{ subject: { status: string } }>(
      'GET',
      `/v1/subjects/${subjectId}`,
      { token },
    );
    expect(subject.body.subject.status).toBe('pseudonymized');
  });
});
