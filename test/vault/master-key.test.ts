import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INSTALLATION_CHAIN } from '../../src/audit/audit-events.js';
import { createAuditService } from '../../src/audit/audit-service.js';
import { createBlindIndex } from '../../src/crypto/blind-index.js';
import { createKeyring, DecryptionError } from '../../src/crypto/keyring.js';
import { rotateMasterKey } from '../../src/crypto/master-key-rotation.js';
import { createSubjectKeys } from '../../src/crypto/subject-keys.js';
import { startTestAvow, type TestAvow } from '../support/avow.js';
import { activateTestRegister } from './support.js';

let avow: TestAvow;
let tenantId: string;
let token: string;
beforeAll(async () => {
  avow = await startTestAvow();
  ({ tenantId, token } = await avow.tenantWithKey(['vault:read', 'vault:write']));
  await activateTestRegister(avow, tenantId);
});
afterAll(async () => avow.close());

describe('master key rotation', () => {
  it('re-wraps data keys and the index key without rewriting records; old backups need the retired key', async () => {
    const created = await avow.call<{ subject: { id: string } }>('POST', '/v1/subjects', {
      token,
      body: { kind: 'customer', identities: [{ kind: 'email', value: 'rotate@example.com' }] },
    });
    const subjectId = created.body.subject.id;
    await avow.call('POST', `/v1/subjects/${subjectId}/records`, {
      token,
      body: {
        records: [
          { category: 'user.name', value: 'Rita', source: 'subject', purposes: ['service'] },
        ],
      },
    });
    const db = avow.database.db;
    const recordsBefore = await db
      .selectFrom('vaultRecords')
      .select(['id', 'sealed'])
      .where('subjectId', '=', subjectId)
      .execute();
    const oldKeyRow = await db
      .selectFrom('subjectKeys')
      .selectAll()
      .where('subjectId', '=', subjectId)
      .executeTakeFirstOrThrow();

    // A failed login with a malformed token goes to the installation chain,
    // its IP and user agent sealed under an audit actor key (audit_actor_keys).
    const failed = await avow.call('GET', '/v1/tenants', {
      token: 'not-an-avow-token',
      headers: { 'user-agent': 'rotation-probe/1.0' },
    });
    expect(failed.status).toBe(401);

    const v1 = { version: 1, key: avow.keys.masterKey };
    const v2 = { version: 2, key: randomBytes(32) };
    const both = createKeyring({ masterKeys: [v1, v2], signingKey: avow.keys.signingKey });
    const report = await rotateMasterKey(db, both);
    expect(report.subjectKeysRewrapped).toBeGreaterThanOrEqual(1);
    expect(report.actorKeysRewrapped).toBeGreaterThanOrEqual(1);
    expect(report.indexKeyRewrapped).toBe(true);
    expect(report.remainingByVersion).toEqual({ '2': expect.any(Number) });
    // Running it again finds nothing to do.
    const again = await rotateMasterKey(db, both);
    expect(again.subjectKeysRewrapped).toBe(0);
    expect(again.actorKeysRewrapped).toBe(0);

    // Records were not rewritten.
    const recordsAfter = await db
      .selectFrom('vaultRecords')
      .select(['id', 'sealed'])
      .where('subjectId', '=', subjectId)
      .execute();
    expect(
      Buffer.from(recordsAfter[0]?.sealed as Uint8Array).equals(
        Buffer.from(recordsBefore[0]?.sealed as Uint8Array),
      ),
    ).toBe(true);

    // With only version 2 (version 1 retired), data and blind indexes still work.
    const onlyV2 = createKeyring({ masterKeys: [v2], signingKey: avow.keys.signingKey });
    const keys = createSubjectKeys({ keyring: onlyV2 });
    const state = await keys.get(db, tenantId, subjectId);
    expect(state.state).toBe('live');
    // The installation chain's actor-sealed fields still open.
    const audit = createAuditService({ db, keyring: onlyV2, subjectKeys: keys });
    const logins = await audit.search(
      INSTALLATION_CHAIN,
      { actions: ['login.failed'] },
      { limit: 10 },
    );
    const probe = logins.items.find(
      (e) => (e.personal as { userAgent?: string }).userAgent === 'rotation-probe/1.0',
    );
    expect(probe?.personal).toMatchObject({ state: 'sealed', userAgent: 'rotation-probe/1.0' });
    const index = createBlindIndex({ db, keyring: onlyV2 });
    const original = createBlindIndex({ db, keyring: both });
    const identity = { kind: 'email' as const, value: 'rotate@example.com' };
    expect(
      (await index.compute(tenantId, identity)).equals(await original.compute(tenantId, identity)),
    ).toBe(true);

    // A backup taken before rotation holds a key wrapped under version 1: once
    // version 1 is retired, nothing in it unwraps, erased subject or not.
    expect(() =>
      onlyV2.unwrap(
        Buffer.from(oldKeyRow.wrappedKey as Uint8Array),
        oldKeyRow.masterKeyVersion as number,
        `avow/subject-key/${tenantId}/${subjectId}`,
      ),
    ).toThrow(DecryptionError);
  });
});
