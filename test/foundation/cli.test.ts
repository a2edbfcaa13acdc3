import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, runAvow, serverDatabase, startServer } from '../support/processes.js';

const onPostgres = Boolean(process.env.DATABASE_URL);
let dataDir: string;
let env: Record<string, string | undefined>;
let drop: () => Promise<void>;
let server: RunningServer;
let operatorKey: string;

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'avow-cli-'));
  ({ env, drop } = await serverDatabase(dataDir));
  server = await startServer(env);
  operatorKey = /(avow_[0-9a-z]{26}_[A-Za-z0-9_-]{43})/.exec(server.output())?.[1] ?? '';
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await drop?.();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('first start', () => {
  it('prints the operator key once and says where the keys are', () => {
    expect(operatorKey).not.toBe('');
    if (!onPostgres) {
      expect(server.output()).toContain('Demo tenant: ten_');
      expect(existsSync(path.join(dataDir, 'keys', 'master.key'))).toBe(true);
      expect(statSync(path.join(dataDir, 'keys', 'master.key')).mode & 0o077).toBe(0);
      expect(server.output()).toContain(path.join(dataDir, 'keys', 'master.key'));
    }
  });

  it('logs JSON lines, up to "listening", without the key in them', async () => {
    const logLines = () =>
      server
        .output()
        .split('\n')
        .filter((line) => line.startsWith('{'));
    // Start-up's lines are written when the server listens; the pipe may deliver them just after /ready answers.
    await expect
      .poll(() => logLines().some((line) => line.includes('"msg":"listening"')))
      .toBe(true);
    for (const line of logLines()) expect(line).not.toContain(operatorKey);
  });
});

describe('the CLI against a running server', () => {
  it('creates and lists a tenant, creates a key and uses it, revokes it', async () => {
    const cli = { AVOW_URL: server.url, AVOW_API_KEY: operatorKey };
    const created = await runAvow(
      ['tenants', 'create', '--name', 'Aize', '--region', 'eu-west', '--json'],
      cli,
    );
    expect(created.code).toBe(0);
    const tenant = JSON.parse(created.stdout) as { id: string; name: string };
    expect(tenant.name).toBe('Aize');

    const listed = await runAvow(['tenants', 'list'], cli);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(tenant.id);
    expect(listed.stdout).toMatch(/^id\s+name\s+role/);

    const key = await runAvow(
      [
        'keys',
        'create',
        '--name',
        'backend',
        '--scopes',
        'admin',
        '--for-tenant',
        tenant.id,
        '--json',
      ],
      cli,
    );
    expect(key.code).toBe(0);
    const { token, key: meta } = JSON.parse(key.stdout) as { token: string; key: { id: string } };

    // The API with the new key, as curl would.
    const own = await fetch(`${server.url}/v1/tenants/${tenant.id}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(own.status).toBe(200);

    const revoked = await runAvow(['keys', 'revoke', meta.id], cli);
    expect(revoked.code).toBe(0);
    const after = await fetch(`${server.url}/v1/tenants/${tenant.id}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(after.status).toBe(401);
  });

  it('exits 1 with the server’s explanation when the API refuses', async () => {
    const result = await runAvow(['tenants', 'create', '--name', 'P', '--role', 'processor'], {
      AVOW_URL: server.url,
      AVOW_API_KEY: operatorKey,
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('controller');
  });

  it('exits 2 for usage mistakes and 0 for --help', async () => {
    expect(
      (await runAvow(['tenants', 'create'], { AVOW_URL: server.url, AVOW_API_KEY: operatorKey }))
        .code,
    ).toBe(2);
    expect((await runAvow(['no-such-command'])).code).toBe(2);
    expect(
      (await runAvow(['tenants', 'list'], { AVOW_URL: server.url, AVOW_API_KEY: '' })).code,
    ).toBe(2);
    const help = await runAvow(['keys', 'create', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--scopes');
  });

  it('says when the server cannot be reached', async () => {
    const result = await runAvow(['tenants', 'list'], {
      AVOW_URL: 'http://127.0.0.1:9',
      AVOW_API_KEY: operatorKey,
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('Cannot reach Avow');
  });
});

describe('lifecycle', () => {
  it('stops cleanly on SIGTERM and does not set up twice on the next start', async () => {
    const code = await server.stop();
    expect(code).toBe(0);
    expect(server.output()).toContain('"msg":"stopped"');

    server = await startServer(env);
    expect(server.output()).not.toContain('operator API key');
    const reply = await fetch(`${server.url}/v1/tenants`, {
      headers: { authorization: `Bearer ${operatorKey}` },
    });
    expect(reply.status).toBe(200);
  });

  it.runIf(!onPostgres)('refuses a second process on the same embedded database', async () => {
    const result = await runAvow(['migrate'], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('in use by another Avow process');
  });
});
