import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/main.js';
import { startTestAvow, type TestAvow } from '../support/avow.js';

type Entry = {
  seq: number;
  action: string;
  actor: { type: string; id: string };
  ip: string | null;
  userAgent: string | null;
  payload: Record<string, unknown>;
};
type Login = {
  account: string;
  outcome: string;
  keyPrefix: string | null;
  reason: string | null;
  ip: string | null;
  userAgent: string | null;
};

let avow: TestAvow;
beforeAll(async () => {
  avow = await startTestAvow();
});
afterAll(async () => {
  await avow?.close();
});

describe('audit over HTTP', () => {
  it('records tenant and key changes with who did it and from where', async () => {
    const created = await avow.call<{ id: string }>('POST', '/v1/tenants', {
      body: { name: 'Acme', role: 'controller', region: 'eu' },
      headers: { 'user-agent': 'ops-console/1.0' },
    });
    expect(created.status).toBe(201);
    const tenantId = created.body.id;
    const key = await avow.call<{ key: { id: string } }>('POST', '/v1/keys', {
      body: { name: 'reader', scopes: ['audit:read'], tenantId },
    });
    expect(key.status).toBe(201);
    expect((await avow.call('DELETE', `/v1/keys/${key.body.key.id}`)).status).toBe(200);

    const log = await avow.call<{ items: Entry[] }>('GET', '/v1/audit', {
      headers: { 'avow-tenant': tenantId },
    });
    expect(log.status).toBe(200);
    const actions = log.body.items.map((e) => e.action).reverse();
    expect(actions).toEqual(['tenant.created', 'key.created', 'key.revoked']);
    const first = log.body.items.at(-1);
    expect(first).toMatchObject({
      actor: { type: 'operator' },
      ip: '127.0.0.1',
      userAgent: 'ops-console/1.0',
      payload: { role: 'controller', region: 'eu' },
    });
  });

  it('records failed logins with key prefix, IP and user agent, never the secret', async () => {
    const { tenantId, token } = await avow.tenantWithKey(['audit:read']);
    const [, idPart] = /^avow_([^_]+)_/.exec(token) ?? [];
    const wrong = `avow_${idPart}_${'x'.repeat(43)}`;
    const denied = await avow.call('GET', '/v1/audit', {
      token: wrong,
      headers: { 'user-agent': 'curl/8.0' },
    });
    expect(denied.status).toBe(401);
    // Three successful calls: one login.succeeded, not three.
    for (let i = 0; i < 3; i += 1)
      expect((await avow.call('GET', '/v1/audit/verify', { token })).status).toBe(200);

    const logins = await avow.call<{
      items: Login[];
      accounts: { account: string; succeeded: number; failed: number }[];
    }>('GET', '/v1/audit/logins', { token });
    expect(logins.status).toBe(200);
    expect(logins.text).not.toContain('x'.repeat(43));
    const failed = logins.body.items.filter((l) => l.outcome === 'failure');
    expect(failed).toEqual([
      expect.objectContaining({
        account: `key_${idPart}`,
        keyPrefix: `avow_${idPart}`,
        reason: 'revoked_or_wrong_secret',
        ip: '127.0.0.1',
        userAgent: 'curl/8.0',
      }),
    ]);
    expect(logins.body.accounts).toEqual([
      expect.objectContaining({ account: `key_${idPart}`, succeeded: 1, failed: 1 }),
    ]);
    expect((await avow.call<{ ok: boolean }>('GET', '/v1/audit/verify', { token })).body.ok).toBe(
      true,
    );
    expect(tenantId).toMatch(/^ten_/);
  });

  it('keeps malformed tokens in the installation chain, for operators only', async () => {
    expect(
      (
        await avow.call('GET', '/v1/audit', {
          token: 'not-a-key',
          headers: { 'user-agent': 'scanner' },
        })
      ).status,
    ).toBe(401);
    const logins = await avow.call<{ items: Login[] }>('GET', '/v1/audit/logins?outcome=failure');
    expect(logins.body.items[0]).toMatchObject({
      account: 'unknown',
      reason: 'malformed_token',
      keyPrefix: null,
      userAgent: 'scanner',
    });
    const { token } = await avow.tenantWithKey(['audit:read']);
    const own = await avow.call<{ items: Login[] }>('GET', '/v1/audit/logins?outcome=failure', {
      token,
    });
    expect(own.body.items.some((l) => l.userAgent === 'scanner')).toBe(false);
  });

  it('keeps tenants apart and checks scopes', async () => {
    const a = await avow.tenantWithKey(['audit:read']);
    const b = await avow.tenantWithKey(['vault:read']);
    expect((await avow.call('GET', '/v1/audit', { token: b.token })).status).toBe(403);
    expect(
      (
        await avow.call('GET', '/v1/audit', {
          token: a.token,
          headers: { 'avow-tenant': b.tenantId },
        })
      ).status,
    ).toBe(404);
    const own = await avow.call<{ items: Entry[] }>('GET', '/v1/audit?action=tenant.created', {
      token: a.token,
    });
    expect(own.body.items).toHaveLength(1);
  });

  it('filters, pages with a cursor and refuses what it does not know', async () => {
    const { tenantId, token } = await avow.tenantWithKey(['admin']);
    for (let i = 0; i < 3; i += 1)
      await avow.call('PATCH', `/v1/tenants/${tenantId}`, { body: { name: `Renamed ${i}` } });
    const first = await avow.call<{ items: Entry[]; nextCursor: string }>(
      'GET',
      '/v1/audit?action=tenant.updated&limit=2',
      { token },
    );
    expect(first.body.items.map((e) => e.payload.fields)).toEqual([['name'], ['name']]);
    const second = await avow.call<{ items: Entry[]; nextCursor: string | null }>(
      'GET',
      `/v1/audit?action=tenant.updated&limit=2&cursor=${first.body.nextCursor}`,
      { token },
    );
    expect(second.body.items).toHaveLength(1);
    expect(second.body.nextCursor).toBeNull();
    expect((await avow.call('GET', '/v1/audit?action=subject.teleported', { token })).status).toBe(
      400,
    );
    expect((await avow.call('GET', '/v1/audit?cursor=bogus', { token })).status).toBe(400);
    expect((await avow.call('GET', '/v1/audit?from=yesterday', { token })).status).toBe(400);
  });

  it('exports CSV with formula-looking cells defused, and serves the public key', async () => {
    const { token } = await avow.tenantWithKey(['audit:read']);
    const [, idPart] = /^avow_([^_]+)_/.exec(token) ?? [];
    await avow.call('GET', '/v1/audit', {
      token: `avow_${idPart}_${'y'.repeat(43)}`,
      headers: { 'user-agent': '=HYPERLINK("http://evil")' },
    });
    const response = await fetch(`${avow.baseUrl}/v1/audit/export?format=csv&action=login.failed`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(response.status).toBe(200);
    const csv = await response.text();
    expect(csv.split('\n')[0]).toBe(
      'position,lane,seq,id,at,actorType,actorId,action,subjectId,categories,purpose,outcome,requestId,ip,userAgent,payload,hash',
    );
    expect(csv).toContain(`'=HYPERLINK`);
    expect(
      (await avow.call('GET', '/v1/audit/export?format=jsonl&action=login.failed', { token }))
        .status,
    ).toBe(400);
    const key = await avow.call('GET', '/v1/audit/public-key', { token: null });
    expect(key.text).toContain('BEGIN PUBLIC KEY');
  });

  it('`avow audit verify` checks the chain over HTTP', async () => {
    const { token } = await avow.tenantWithKey(['audit:read']);
    expect(
      await runCli(['audit', 'verify', '--url', avow.baseUrl, '--api-key', token, '--json']),
    ).toBe(0);
  });
});
