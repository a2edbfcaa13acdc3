import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAvow, type TestAvow } from '../support/avow.js';

type Problem = { path: string; message: string; line: number; column: number; allowed?: string };
type ErrorBody = { error: { code: string; message: string; details: Problem[] } };
type Version = {
  id: string;
  number: number;
  active: boolean;
  contentHash: string;
  yaml: string;
  register: Record<string, unknown>;
};
type Published = { created: boolean; version: Version };

const demo = readFileSync(new URL('../../examples/registers/demo.yaml', import.meta.url), 'utf8');
const aito = readFileSync(new URL('../../examples/registers/aito.yaml', import.meta.url), 'utf8');
const yamlHeaders = { 'content-type': 'application/yaml' };

let avow: TestAvow;
let tenant: { tenantId: string; token: string };
beforeAll(async () => {
  avow = await startTestAvow();
  tenant = await avow.tenantWithKey(['register:write']);
});
afterAll(async () => avow.close());

describe('register versions over HTTP', () => {
  it('rejects an invalid register with every problem and changes nothing', async () => {
    const broken = demo
      .replace('legalBasis: legal_obligation', 'legalBasis: law')
      .replace('    safeguard: scc\n', '')
      .replace('duration: P6M', 'duration: half a year');
    const put = await avow.call<ErrorBody>('PUT', '/v1/register', {
      token: tenant.token,
      rawBody: broken,
      headers: yamlHeaders,
    });
    expect(put.status).toBe(422);
    expect(put.body.error.code).toBe('unprocessable');
    expect(put.body.error.details.map((d) => d.path)).toEqual([
      'purposes[1].legalBasis',
      'recipients[1]',
      'retention.rules[0].duration',
    ]);
    const first = put.body.error.details[0];
    expect(first?.line).toBe(
      broken.split('\n').findIndex((l) => l.includes('legalBasis: law')) + 1,
    );
    expect(first?.allowed).toContain('legal_obligation');

    const active = await avow.call('GET', '/v1/register', { token: tenant.token });
    expect(active.status).toBe(404);
    const versions = await avow.call<{ items: Version[] }>('GET', '/v1/register/versions', {
      token: tenant.token,
    });
    expect(versions.body.items).toEqual([]);
  });

  it('activates a valid register, and the same content again makes no new version', async () => {
    const put = await avow.call<Published>('PUT', '/v1/register', {
      token: tenant.token,
      rawBody: demo,
      headers: yamlHeaders,
    });
    expect(put.status).toBe(201);
    expect(put.body.created).toBe(true);
    expect(put.body.version).toMatchObject({ number: 1, active: true });
    expect(put.body.version.contentHash).toMatch(/^[0-9a-f]{64}$/);

    const again = await avow.call<Published>('PUT', '/v1/register', {
      token: tenant.token,
      body: { yaml: demo },
    });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ created: false, version: { id: put.body.version.id } });

    const active = await avow.call<Version>('GET', '/v1/register', { token: tenant.token });
    expect(active.status).toBe(200);
    expect(active.body).toMatchObject({ id: put.body.version.id, active: true, yaml: demo });
    expect(active.body.register).toMatchObject({ rights: { deadline: 'P1M' } });

    const service = await avow.services.register.getActiveRegister(tenant.tenantId);
    expect(service?.versionId).toBe(put.body.version.id);
    expect(service?.register.organisation.name).toBe('Demo Company Oy');
  });

  it('diffs two versions and flags a material change', async () => {
    const first = await avow.call<Version>('GET', '/v1/register', { token: tenant.token });
    const changed = demo.replace('duration: P6M', 'duration: P2Y');
    const put = await avow.call<Published>('PUT', '/v1/register', {
      token: tenant.token,
      rawBody: changed,
      headers: { 'content-type': 'text/plain' },
    });
    expect(put.body.version).toMatchObject({ number: 2, active: true });

    const diff = await avow.call<{
      material: boolean;
      reasons: string[];
      text: string;
      to: string;
    }>('GET', `/v1/register/diff?from=${first.body.id}`, { token: tenant.token });
    expect(diff.status).toBe(200);
    expect(diff.body.to).toBe(put.body.version.id);
    expect(diff.body.material).toBe(true);
    expect(diff.body.reasons).toEqual(['retention rule account_data keeps data longer']);
    expect(diff.body.text).toContain('"P6M" -> "P2Y"');

    const versions = await avow.call<{ items: Version[] }>('GET', '/v1/register/versions', {
      token: tenant.token,
    });
    expect(versions.body.items.map((v) => [v.number, v.active])).toEqual([
      [2, true],
      [1, false],
    ]);
    const old = await avow.call<Version>('GET', `/v1/register/versions/${first.body.id}`, {
      token: tenant.token,
    });
    expect(old.body).toMatchObject({ number: 1, active: false, yaml: demo });
  });

  it('serves the privacy policy publicly, as HTML and Markdown', async () => {
    const html = await avow.call('GET', `/v1/tenants/${tenant.tenantId}/privacy-policy`, {
      token: null,
    });
    expect(html.status).toBe(200);
    expect(html.headers.get('content-type')).toContain('text/html');
    expect(html.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(html.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    expect(html.text).toContain('<html lang="en">');
    expect(html.text).toContain('We answer within one calendar month');
    expect(html.text).toContain(
      'deleted two years after the contract with the contracting party ends',
    );

    const md = await avow.call('GET', `/v1/tenants/${tenant.tenantId}/privacy-policy?format=md`, {
      token: null,
    });
    expect(md.headers.get('content-type')).toContain('text/markdown');
    expect(md.text).toMatch(/^# Demo Company Privacy Policy/);

    const other = await avow.tenantWithKey(['admin']);
    const none = await avow.call('GET', `/v1/tenants/${other.tenantId}/privacy-policy`, {
      token: null,
    });
    expect(none.status).toBe(404);
  });

  it('exports the record of processing as JSON and CSV', async () => {
    const json = await avow.call<{ activities: { purpose: string; legalBasis: string }[] }>(
      'GET',
      '/v1/register/record-of-processing',
      { token: tenant.token },
    );
    expect(json.status).toBe(200);
    expect(json.body.activities.map((a) => a.purpose)).toEqual([
      'service',
      'billing',
      'newsletter',
      'analytics',
    ]);
    const csv = await avow.call('GET', '/v1/register/record-of-processing?format=csv', {
      token: tenant.token,
    });
    expect(csv.headers.get('content-type')).toContain('text/csv');
    expect(csv.text.split('\n')[0]).toMatch(/^controller,controller_contact,dpo,purpose,/);
    expect(csv.text).toContain('Demo Company Oy');
  });

  it('serves the JSON Schema publicly', async () => {
    const schema = await avow.call<{ properties: Record<string, unknown> }>(
      'GET',
      '/v1/register/schema',
      {
        token: null,
      },
    );
    expect(schema.status).toBe(200);
    expect(Object.keys(schema.body.properties)).toContain('purposes');
  });
});

describe('register isolation between tenants', () => {
  it("another tenant's key neither reads nor changes this register", async () => {
    const other = await avow.tenantWithKey(['admin']);
    const mine = await avow.call<Version>('GET', '/v1/register', { token: tenant.token });

    const read = await avow.call('GET', `/v1/register/versions/${mine.body.id}`, {
      token: other.token,
    });
    expect(read.status).toBe(404);
    const diff = await avow.call(
      'GET',
      `/v1/register/diff?from=${mine.body.id}&to=${mine.body.id}`,
      {
        token: other.token,
      },
    );
    expect(diff.status).toBe(404);
    const named = await avow.call('GET', '/v1/register', {
      token: other.token,
      headers: { 'avow-tenant': tenant.tenantId },
    });
    expect(named.status).toBe(404);

    // Its own PUT lands in its own tenant only.
    const put = await avow.call<Published>('PUT', '/v1/register', {
      token: other.token,
      rawBody: aito,
      headers: yamlHeaders,
    });
    expect(put.status).toBe(201);
    const after = await avow.call<Version>('GET', '/v1/register', { token: tenant.token });
    expect(after.body.id).toBe(mine.body.id);
    const theirs = await avow.call<{ items: Version[] }>('GET', '/v1/register/versions', {
      token: other.token,
    });
    expect(theirs.body.items.map((v) => v.id)).toEqual([put.body.version.id]);
  });

  it('needs a register scope: a key without one is refused', async () => {
    const reader = await avow.tenantWithKey(['vault:read']);
    const get = await avow.call('GET', '/v1/register', { token: reader.token });
    expect(get.status).toBe(403);
    const put = await avow.call('PUT', '/v1/register', {
      token: reader.token,
      rawBody: demo,
      headers: yamlHeaders,
    });
    expect(put.status).toBe(403);
  });

  it('the operator acts on a tenant it names', async () => {
    const get = await avow.call<Version>('GET', '/v1/register', {
      headers: { 'avow-tenant': tenant.tenantId },
    });
    expect(get.status).toBe(200);
    expect(get.body.number).toBe(2);
  });
});
