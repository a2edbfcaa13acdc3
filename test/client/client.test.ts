import { AvowApiError, type AvowClient, createAvowClient } from '@avow/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAvow, type TestAvow } from '../support/avow.js';

let avow: TestAvow;
let operator: AvowClient;

beforeAll(async () => {
  avow = await startTestAvow();
  operator = createAvowClient({ baseUrl: avow.baseUrl, apiKey: avow.operatorToken });
});
afterAll(async () => {
  await avow.close();
});

/** The AvowApiError a call rejects with (the test fails if it resolves). */
async function failureOf(call: Promise<unknown>): Promise<AvowApiError> {
  const outcome = await call.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(outcome).toBeInstanceOf(AvowApiError);
  return outcome as AvowApiError;
}

describe('@avow/client over HTTP', () => {
  it('creates a tenant, a key of it, and acts with that key', async () => {
    const tenant = await operator.tenants.create({ name: 'Acme Oy', region: 'eu-north' });
    expect(tenant).toMatchObject({ name: 'Acme Oy', region: 'eu-north', role: 'controller' });
    expect(tenant.id).toMatch(/^ten_/);

    const created = await operator.keys.create({
      name: 'backend',
      scopes: ['admin'],
      tenantId: tenant.id,
    });
    expect(created.key).toMatchObject({ name: 'backend', tenantId: tenant.id, scopes: ['admin'] });
    expect(created.token).toMatch(/^avow_/);

    const acme = createAvowClient({ baseUrl: avow.baseUrl, apiKey: created.token });
    expect(await acme.whoami()).toEqual({
      keyId: created.key.id,
      tenantId: tenant.id,
      scopes: ['admin'],
    });
    expect((await acme.tenants.get(tenant.id)).name).toBe('Acme Oy');
    const own = await acme.keys.list();
    expect(own.items.map((key) => key.id)).toEqual([created.key.id]);
  });

  it('lists, reads and updates tenants, and revokes keys', async () => {
    const tenant = await operator.tenants.create({ name: 'Beta Ab' });
    const page = await operator.tenants.list({ limit: 500 });
    expect(page.items.map((t) => t.id)).toContain(tenant.id);

    const updated = await operator.tenants.update(tenant.id, { contractEnd: '2030-12-31' });
    expect(updated.contractEnd).toBe('2030-12-31');
    expect((await operator.tenants.get(tenant.id)).contractEnd).toBe('2030-12-31');

    const { key, token } = await operator.keys.create({
      name: 'short-lived',
      scopes: ['vault:read'],
      tenantId: tenant.id,
    });
    const revoked = await operator.keys.revoke(key.id);
    expect(revoked.revokedAt).not.toBeNull();
    const listed = await operator.keys.list({ tenantId: tenant.id, includeRevoked: true });
    expect(listed.items.find((k) => k.id === key.id)?.revokedAt).not.toBeNull();
    expect((await operator.keys.list({ tenantId: tenant.id })).items).toEqual([]);

    const error = await failureOf(
      createAvowClient({ baseUrl: avow.baseUrl, apiKey: token }).whoami(),
    );
    expect(error.status).toBe(401);
  });

  it('turns a 400 into AvowApiError naming the field', async () => {
    const error = await failureOf(
      // The wrong role is the point of this test.
      operator.tenants.create({ name: 'Gamma', role: 'owner' as 'controller' }),
    );
    expect(error).toMatchObject({ status: 400, code: 'validation_failed' });
    expect(error.details.map((d) => d.path)).toContain('body.role');
    expect(error.requestId).toMatch(/\S/);
    expect(error.message).toContain('body.role');
  });

  it('maps 401, 403 and 404 to AvowApiError with the code Avow sent', async () => {
    const stranger = createAvowClient({ baseUrl: avow.baseUrl, apiKey: 'avow_nope_nope' });
    expect(await failureOf(stranger.tenants.list())).toMatchObject({
      status: 401,
      code: 'unauthorized',
    });

    const { token } = await avow.tenantWithKey(['vault:read']);
    const reader = createAvowClient({ baseUrl: avow.baseUrl, apiKey: token });
    expect(await failureOf(reader.keys.list())).toMatchObject({ status: 403, code: 'forbidden' });

    const other = await operator.tenants.create({ name: 'Other' });
    const { token: adminToken } = await avow.tenantWithKey(['admin']);
    const admin = createAvowClient({ baseUrl: avow.baseUrl, apiKey: adminToken });
    expect(await failureOf(admin.tenants.get(other.id))).toMatchObject({
      status: 404,
      code: 'not_found',
    });
    expect(await failureOf(operator.tenants.get('ten_01jzzzzzzzzzzzzzzzzzzzzzzz'))).toMatchObject({
      status: 404,
    });
  });

  it('gives the raw typed result too, and call() throws like the helpers', async () => {
    const result = await operator.raw.GET('/v1/tenants/{tenantId}', {
      params: { path: { tenantId: 'ten_01jzzzzzzzzzzzzzzzzzzzzzzz' } },
    });
    expect(result.data).toBeUndefined();
    expect(result.response.status).toBe(404);
    expect(result.error?.error.code).toBe('not_found');

    const me = await operator.call(operator.raw.GET('/v1/whoami'));
    expect(me.tenantId).toBeNull();
    expect(me.scopes).toEqual(['operator']);
  });

  it('sends Avow-Tenant for installation keys acting on a tenant', async () => {
    const tenant = await operator.tenants.create({ name: 'Delta' });
    const seen: (string | null)[] = [];
    const client = createAvowClient({
      baseUrl: avow.baseUrl,
      apiKey: avow.operatorToken,
      fetch: (request) => {
        seen.push(request.headers.get('avow-tenant'));
        return fetch(request);
      },
    }).withTenant(tenant.id);
    await client.whoami();
    expect(seen).toEqual([tenant.id]);
  });

  it('says Avow cannot be reached when nothing listens', async () => {
    const nowhere = createAvowClient({ baseUrl: 'http://127.0.0.1:9', apiKey: 'avow_x_y' });
    expect(await failureOf(nowhere.whoami())).toMatchObject({ status: 0, code: 'unreachable' });
  });
});
