import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAvow, type TestAvow } from '../support/avow.js';

let avow: TestAvow;
beforeAll(async () => {
  avow = await startTestAvow();
});
afterAll(async () => avow.close());

describe('health and readiness', () => {
  it('answers /health and reports the database and schema on /ready', async () => {
    const health = await avow.call('GET', '/health', { token: null });
    expect(health.status).toBe(200);
    expect(health.body).toEqual({ status: 'ok' });

    const ready = await avow.call('GET', '/ready', { token: null });
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({
      status: 'ready',
      database: 'reachable',
      schema: 'current',
      pendingMigrations: [],
    });
  });

  it('puts a request id and security headers on every reply', async () => {
    const first = await avow.call('GET', '/health', { token: null });
    const second = await avow.call('GET', '/nowhere', { token: null });
    expect(first.headers.get('x-request-id')).toMatch(/^rid_[0-9a-f]{16}[0-9a-z]+$/);
    expect(second.headers.get('x-request-id')).toMatch(/^rid_/);
    expect(first.headers.get('x-request-id')).not.toBe(second.headers.get('x-request-id'));
    expect(first.headers.get('x-content-type-options')).toBe('nosniff');
    // An API reply is never a document, never framed and never cached.
    expect(first.headers.get('content-security-policy')).toBe(
      "default-src 'none'; frame-ancestors 'none'",
    );
    expect(first.headers.get('cache-control')).toBe('no-store');
    expect(first.headers.get('x-frame-options')).toBe('DENY');
  });

  it('sends HSTS only when the installation is served over HTTPS', async () => {
    // This one is reached over plain HTTP: RFC 6797 forbids the header there.
    const overHttp = await avow.call('GET', '/health', { token: null });
    expect(overHttp.headers.get('strict-transport-security')).toBeNull();
    const page = await avow.call('GET', '/docs/', { token: null });
    expect(page.headers.get('strict-transport-security')).toBeNull();

    const secure = await startTestAvow({ publicUrl: 'https://privacy.example.com' });
    try {
      for (const path of ['/health', '/v1/whoami', '/docs/', '/nowhere']) {
        const reply = await secure.call('GET', path);
        expect(reply.headers.get('strict-transport-security'), path).toBe(
          'max-age=31536000; includeSubDomains',
        );
      }
    } finally {
      await secure.close();
    }
  });

  it('gives HTML pages the document security headers', async () => {
    const reply = await avow.call('GET', '/docs/', { token: null });
    expect(reply.headers.get('content-type')).toContain('text/html');
    expect(reply.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(reply.headers.get('cross-origin-opener-policy')).toBe('same-origin');
    expect(reply.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('does not take a request id from the client', async () => {
    const reply = await avow.call('GET', '/health', {
      token: null,
      headers: { 'x-request-id': 'forged' },
    });
    expect(reply.headers.get('x-request-id')).not.toBe('forged');
  });

  it('logs each request once, by route pattern, never by URL', async () => {
    const known = await avow.call('GET', '/v1/tenants/ten_01m860fwfq7vm4bp04s1thwns8');
    const unknown = await avow.call('GET', '/v1/no-such-route?email=pekka@example.fi');
    const lines = avow
      .logs()
      .split('\n')
      .filter((line) => line.includes('"msg":"request"'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const of = (reply: { headers: Headers }) =>
      lines.filter((line) => line.reqId === reply.headers.get('x-request-id'));
    expect(of(known)).toEqual([
      expect.objectContaining({
        method: 'GET',
        route: '/v1/tenants/:tenantId',
        status: 404,
        ms: expect.any(Number),
      }),
    ]);
    expect(of(unknown)).toEqual([
      expect.objectContaining({ method: 'GET', route: 'unmatched', status: 404 }),
    ]);
    expect(avow.logs()).not.toContain('ten_01m860fwfq7vm4bp04s1thwns8');
    expect(avow.logs()).not.toContain('pekka@example.fi');
  });
});

describe('errors', () => {
  it('answers an unknown route with the error shape and the request id', async () => {
    const reply = await avow.call<{ error: { code: string; message: string; requestId: string } }>(
      'GET',
      '/v1/nothing-here',
    );
    expect(reply.status).toBe(404);
    expect(reply.body.error.code).toBe('not_found');
    expect(reply.body.error.requestId).toBe(reply.headers.get('x-request-id'));
  });

  it('answers malformed JSON with 400 invalid_json, not 500', async () => {
    const reply = await avow.call<{ error: { code: string; message: string } }>(
      'POST',
      '/v1/tenants',
      { rawBody: '{"name": ' },
    );
    expect(reply.status).toBe(400);
    expect(reply.body.error.code).toBe('invalid_json');
    expect(reply.body.error.message).toMatch(/not valid JSON/);
  });

  it('answers a failure of its own with a generic 500, and logs the cause under the request id', async () => {
    // A fault the service did not expect: the table it reads is gone.
    await sql`alter table tenants rename to tenants_away`.execute(avow.database.db);
    let reply: Awaited<ReturnType<typeof avow.call<{ error: { code: string; message: string } }>>>;
    try {
      reply = await avow.call('GET', '/v1/tenants');
    } finally {
      await sql`alter table tenants_away rename to tenants`.execute(avow.database.db);
    }
    expect(reply.status).toBe(500);
    expect(reply.body.error.code).toBe('internal');
    expect(reply.body.error.message).not.toContain('tenants');
    const logged = avow
      .logs()
      .split('\n')
      .filter(Boolean)
      .map(
        (line) => JSON.parse(line) as { msg?: string; reqId?: string; err?: { message: string } },
      )
      .find((line) => line.msg === 'unhandled error');
    expect(logged?.reqId).toBe(reply.headers.get('x-request-id'));
    expect(logged?.err?.message).toContain('tenants');
  });

  it('answers a body that is not JSON with 415', async () => {
    const reply = await avow.call<{ error: { code: string } }>('POST', '/v1/tenants', {
      rawBody: 'name=x',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(reply.status).toBe(415);
    expect(reply.body.error.code).toBe('unsupported_media_type');
  });
});

describe('API documentation', () => {
  it('serves an OpenAPI 3.1 document generated from the routes', async () => {
    const reply = await avow.call<{
      openapi: string;
      paths: Record<string, Record<string, { requestBody?: unknown }>>;
    }>('GET', '/openapi.json', { token: null });
    expect(reply.status).toBe(200);
    expect(reply.body.openapi).toBe('3.1.0');
    expect(Object.keys(reply.body.paths)).toEqual(
      expect.arrayContaining([
        '/v1/tenants',
        '/v1/tenants/{tenantId}',
        '/v1/keys',
        '/v1/keys/{keyId}',
        '/ready',
      ]),
    );
    expect(JSON.stringify(reply.body.paths['/v1/tenants']?.post?.requestBody)).toContain(
      'contractStart',
    );
  });

  it('serves readable docs at /docs', async () => {
    const reply = await avow.call('GET', '/docs/', { token: null });
    expect(reply.status).toBe(200);
    expect(reply.text).toContain('swagger-ui');
  });
});
