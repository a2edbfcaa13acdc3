import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAvow, type TestAvow } from '../support/avow.js';

type Tenant = {
  id: string;
  name: string;
  role: string;
  controller: unknown;
  region: string;
  contractStart: string;
  contractEnd: string | null;
  createdAt: string;
};
type ErrorBody = {
  error: { code: string; message: string; details?: { path?: string; message: string }[] };
};

let avow: TestAvow;
beforeAll(async () => {
  avow = await startTestAvow();
});
afterAll(async () => avow.close());

describe('tenants: happy paths', () => {
  it('creates, reads, lists and updates a tenant', async () => {
    const created = await avow.call<Tenant>('POST', '/v1/tenants', {
      body: {
        name: 'Aiwo Digital Oy',
        role: 'controller',
        region: 'eu-north',
        contractStart: '2026-01-01',
      },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: 'Aiwo Digital Oy',
      role: 'controller',
      controller: null,
      region: 'eu-north',
      contractStart: '2026-01-01',
      contractEnd: null,
    });
    expect(created.body.id).toMatch(/^ten_/);
    expect(new Date(created.body.createdAt).getTime()).not.toBeNaN();

    const got = await avow.call<Tenant>('GET', `/v1/tenants/${created.body.id}`);
    expect(got.body).toEqual(created.body);

    const updated = await avow.call<Tenant>('PATCH', `/v1/tenants/${created.body.id}`, {
      body: { contractEnd: '2027-12-31' },
    });
    expect(updated.status).toBe(200);
    expect(updated.body.contractEnd).toBe('2027-12-31');
    expect(updated.body.name).toBe('Aiwo Digital Oy');

    const listed = await avow.call<{ items: Tenant[] }>('GET', '/v1/tenants');
    expect(listed.body.items.map((t) => t.id)).toContain(created.body.id);
  });

  it('creates a processor tenant for a named controller', async () => {
    const created = await avow.call<Tenant>('POST', '/v1/tenants', {
      body: {
        name: 'Customer Ltd workspace',
        role: 'processor',
        controller: { name: 'Customer Ltd', email: 'privacy@customer.example' },
      },
    });
    expect(created.status).toBe(201);
    expect(created.body.controller).toEqual({
      name: 'Customer Ltd',
      email: 'privacy@customer.example',
    });
  });

  it('pages through tenants with a cursor', async () => {
    for (let i = 0; i < 3; i++)
      await avow.call('POST', '/v1/tenants', { body: { name: `Paged ${i}` } });
    const first = await avow.call<{ items: Tenant[]; nextCursor: string | null }>(
      'GET',
      '/v1/tenants?limit=2',
    );
    expect(first.body.items).toHaveLength(2);
    expect(first.body.nextCursor).toBe(first.body.items[1]?.id);
    const second = await avow.call<{ items: Tenant[] }>(
      'GET',
      `/v1/tenants?limit=2&after=${first.body.nextCursor}`,
    );
    expect((second.body.items[0]?.id ?? '') > (first.body.nextCursor ?? '')).toBe(true);
  });
});

describe('tenants: errors', () => {
  it('names every wrong field and what is allowed', async () => {
    const reply = await avow.call<ErrorBody>('POST', '/v1/tenants', {
      body: { name: '', role: 'owner', contractStart: '31.12.2026', colour: 'blue' },
    });
    expect(reply.status).toBe(400);
    expect(reply.body.error.code).toBe('validation_failed');
    const paths = reply.body.error.details?.map((d) => d.path);
    expect(paths).toEqual(expect.arrayContaining(['body.name', 'body.role', 'body.contractStart']));
    const role = reply.body.error.details?.find((d) => d.path === 'body.role');
    expect(role?.message).toContain('controller');
    expect(role?.message).toContain('processor');
    expect(JSON.stringify(reply.body)).toContain('colour');
  });

  it('refuses a processor without its controller, and changes nothing', async () => {
    const before = await avow.call<{ items: Tenant[] }>('GET', '/v1/tenants?limit=500');
    const reply = await avow.call<ErrorBody>('POST', '/v1/tenants', {
      body: { name: 'No controller', role: 'processor' },
    });
    expect(reply.status).toBe(400);
    expect(reply.body.error.details?.[0]?.path).toBe('controller');
    const after = await avow.call<{ items: Tenant[] }>('GET', '/v1/tenants?limit=500');
    expect(after.body.items).toHaveLength(before.body.items.length);
  });

  it('refuses a contract that ends before it starts', async () => {
    const reply = await avow.call<ErrorBody>('POST', '/v1/tenants', {
      body: { name: 'Backwards', contractStart: '2026-05-01', contractEnd: '2026-04-30' },
    });
    expect(reply.status).toBe(400);
    expect(reply.body.error.details?.[0]?.message).toContain('2026-05-01');
  });

  it('answers a malformed or unknown tenant id clearly', async () => {
    const malformed = await avow.call<ErrorBody>('GET', '/v1/tenants/acme');
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.details?.[0]?.path).toBe('params.tenantId');
    const unknown = await avow.call<ErrorBody>('GET', '/v1/tenants/ten_01jaaaaaaaaaaaaaaaaaaaaaaa');
    expect(unknown.status).toBe(404);
  });
});

describe('tenants: security', () => {
  it('refuses a missing, malformed or revoked key with 401', async () => {
    expect((await avow.call('GET', '/v1/tenants', { token: null })).status).toBe(401);
    expect((await avow.call('GET', '/v1/tenants', { token: 'avow_nope' })).status).toBe(401);
    const { key, token } = await avow.services.apiKeys.create({
      name: 'short-lived',
      scopes: ['operator'],
      tenantId: null,
      createdBy: null,
    });
    expect((await avow.call('GET', '/v1/tenants', { token })).status).toBe(200);
    expect((await avow.call('DELETE', `/v1/keys/${key.id}`)).status).toBe(200);
    expect((await avow.call('GET', '/v1/tenants', { token })).status).toBe(401);
  });

  it('refuses a right key with the wrong secret', async () => {
    const { token } = await avow.services.apiKeys.create({
      name: 'k',
      scopes: ['operator'],
      tenantId: null,
      createdBy: null,
    });
    const tampered = `${token.slice(0, -4)}AAAA`;
    expect((await avow.call('GET', '/v1/tenants', { token: tampered })).status).toBe(401);
  });

  it('refuses a tenant key on operator routes with 403', async () => {
    const { token } = await avow.tenantWithKey(['admin']);
    const reply = await avow.call<ErrorBody>('GET', '/v1/tenants', { token });
    expect(reply.status).toBe(403);
    expect(reply.body.error.message).toContain('operator');
    expect((await avow.call('POST', '/v1/tenants', { token, body: { name: 'x' } })).status).toBe(
      403,
    );
  });

  it("lets a tenant read itself but answers 404 for another tenant's objects", async () => {
    const a = await avow.tenantWithKey(['admin']);
    const b = await avow.tenantWithKey(['admin']);
    expect((await avow.call('GET', `/v1/tenants/${a.tenantId}`, { token: a.token })).status).toBe(
      200,
    );
    const other = await avow.call<ErrorBody>('GET', `/v1/tenants/${b.tenantId}`, {
      token: a.token,
    });
    const missing = await avow.call<ErrorBody>(
      'GET',
      '/v1/tenants/ten_01jaaaaaaaaaaaaaaaaaaaaaaa',
      { token: a.token },
    );
    expect(other.status).toBe(404);
    // The same answer whether the other tenant exists or not.
    expect(other.body.error.message).toBe(missing.body.error.message);
  });

  it('checks the key before it reads the body', async () => {
    const reply = await avow.call<ErrorBody>('POST', '/v1/tenants', {
      token: null,
      rawBody: '{broken',
    });
    expect(reply.status).toBe(401);
  });
});
