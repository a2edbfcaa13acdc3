import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAvow, type TestAvow } from '../support/avow.js';

type ApiKey = {
  id: string;
  tenantId: string | null;
  prefix: string;
  scopes: string[];
  revokedAt: string | null;
};
type Created = { key: ApiKey; token: string };
type ErrorBody = {
  error: { code: string; message: string; details?: { path?: string; message: string }[] };
};

let avow: TestAvow;
beforeAll(async () => {
  avow = await startTestAvow();
});
afterAll(async () => avow.close());

describe('API keys', () => {
  it('creates a tenant key whose token starts with its visible prefix and works once', async () => {
    const tenant = await avow.call<{ id: string }>('POST', '/v1/tenants', {
      body: { name: 'Keys Inc' },
    });
    const created = await avow.call<Created>('POST', '/v1/keys', {
      body: { name: 'backend', scopes: ['vault:read', 'vault:write'], tenantId: tenant.body.id },
    });
    expect(created.status).toBe(201);
    expect(created.body.token.startsWith(`${created.body.key.prefix}_`)).toBe(true);
    expect(created.body.key.tenantId).toBe(tenant.body.id);

    // The list never shows the secret.
    const listed = await avow.call<{ items: ApiKey[] }>(
      'GET',
      `/v1/keys?tenantId=${tenant.body.id}`,
    );
    expect(listed.body.items.map((k) => k.id)).toEqual([created.body.key.id]);
    expect(listed.text).not.toContain(created.body.token.slice(-20));
  });

  it('makes an operator acting on a tenant (Avow-Tenant) a key of that tenant, not of the installation', async () => {
    const tenant = await avow.call<{ id: string }>('POST', '/v1/tenants', {
      body: { name: 'Header Oy' },
    });
    const headers = { 'avow-tenant': tenant.body.id };
    const created = await avow.call<Created>('POST', '/v1/keys', {
      body: { name: 'app', scopes: ['admin'] },
      headers,
    });
    expect(created.status).toBe(201);
    expect(created.body.key.tenantId).toBe(tenant.body.id);
    const listed = await avow.call<{ items: ApiKey[] }>('GET', '/v1/keys', { headers });
    expect(listed.body.items.map((k) => k.id)).toEqual([created.body.key.id]);

    // An installation key only when asked for by name.
    const installation = await avow.call<Created>('POST', '/v1/keys', {
      body: { name: 'ops', scopes: ['admin'], tenantId: null },
      headers,
    });
    expect(installation.body.key.tenantId).toBeNull();
    const unknown = await avow.call<ErrorBody>('GET', '/v1/keys', {
      headers: { 'avow-tenant': 'ten_01kabcdefghjkmnpqrstvwxyz0' },
    });
    expect(unknown.status).toBe(404);
  });

  it('stores only a hash of the secret', async () => {
    const created = await avow.call<Created>('POST', '/v1/keys', {
      body: { name: 'ops', scopes: ['operator'], tenantId: null },
    });
    const secret = created.body.token.split('_').slice(2).join('_');
    const { rows } = await sql<
      Record<string, unknown>
    >`select * from api_keys where id = ${created.body.key.id}`.execute(avow.database.db);
    const stored = JSON.stringify(rows[0], (_k, v) =>
      v?.type === 'Buffer' ? Buffer.from(v.data).toString('base64url') : v,
    );
    expect(stored).not.toContain(secret);
  });

  it('lets a tenant admin manage its own keys and nobody else’s', async () => {
    const a = await avow.tenantWithKey(['admin']);
    const b = await avow.tenantWithKey(['admin']);
    const own = await avow.call<Created>('POST', '/v1/keys', {
      token: a.token,
      body: { name: 'reader', scopes: ['vault:read'] },
    });
    expect(own.status).toBe(201);
    expect(own.body.key.tenantId).toBe(a.tenantId);

    const forB = await avow.call<ErrorBody>('POST', '/v1/keys', {
      token: a.token,
      body: { name: 'x', scopes: ['vault:read'], tenantId: b.tenantId },
    });
    expect(forB.status).toBe(404);
    const listB = await avow.call('GET', `/v1/keys?tenantId=${b.tenantId}`, { token: a.token });
    expect(listB.status).toBe(404);
    const bKeys = await avow.call<{ items: ApiKey[] }>('GET', '/v1/keys', { token: b.token });
    const revokeB = await avow.call('DELETE', `/v1/keys/${bKeys.body.items[0]?.id}`, {
      token: a.token,
    });
    expect(revokeB.status).toBe(404);
  });

  it('refuses to grant scopes the caller does not hold', async () => {
    const a = await avow.tenantWithKey(['admin']);
    const operator = await avow.call<ErrorBody>('POST', '/v1/keys', {
      token: a.token,
      body: { name: 'x', scopes: ['operator'] },
    });
    expect(operator.status).toBe(403);
    const narrow = await avow.tenantWithKey(['vault:read']);
    const escalate = await avow.call<ErrorBody>('POST', '/v1/keys', {
      token: narrow.token,
      body: { name: 'x', scopes: ['admin'] },
    });
    expect(escalate.status).toBe(403);
  });

  it('refuses unknown scopes and says which exist', async () => {
    const reply = await avow.call<ErrorBody>('POST', '/v1/keys', {
      body: { name: 'x', scopes: ['everything'] },
    });
    expect(reply.status).toBe(400);
    expect(reply.body.error.details?.[0]?.path).toBe('body.scopes.0');
    expect(reply.body.error.details?.[0]?.message).toContain('vault:read');
  });

  it('revokes once, then says it is already revoked', async () => {
    const created = await avow.call<Created>('POST', '/v1/keys', {
      body: { name: 'temp', scopes: ['operator'] },
    });
    const first = await avow.call<ApiKey>('DELETE', `/v1/keys/${created.body.key.id}`);
    expect(first.status).toBe(200);
    expect(first.body.revokedAt).not.toBeNull();
    const second = await avow.call<ErrorBody>('DELETE', `/v1/keys/${created.body.key.id}`);
    expect(second.status).toBe(409);
  });

  it('keeps tokens out of the logs', async () => {
    const created = await avow.call<Created>('POST', '/v1/keys', {
      body: { name: 'logged?', scopes: ['operator'] },
    });
    await avow.call('GET', '/v1/tenants', { token: created.body.token });
    await avow.call('GET', '/v1/tenants', { token: `${created.body.token}x` });
    const logs = avow.logs();
    expect(logs).toContain('"route":"/v1/tenants"');
    expect(logs).not.toContain(created.body.token.split('_').slice(2).join('_'));
    expect(logs).not.toContain(avow.operatorToken.split('_').slice(2).join('_'));
  });
});
