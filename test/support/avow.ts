import { Writable } from 'node:stream';
import type { Scope } from '../../src/access/scopes.js';
import {
  generateInstallationKeys,
  type InstallationKeys,
} from '../../src/crypto/installation-keys.js';
import type { Database } from '../../src/db/database.js';
import type { MailSettings } from '../../src/mail/mailer.js';
import { createAvow, type Services } from '../../src/server/app.js';
import { createLogger } from '../../src/server/logger.js';
import { openTestDatabase } from './database.js';

export type TestReply<T = unknown> = { status: number; headers: Headers; body: T; text: string };

export type TestAvow = {
  baseUrl: string;
  database: Database;
  services: Services;
  keys: InstallationKeys;
  operatorToken: string;
  /** Everything the service logged, as text: tests read it for leaks. */
  logs: () => string;
  call: <T = unknown>(
    method: string,
    path: string,
    options?: {
      token?: string | null;
      body?: unknown;
      rawBody?: string;
      headers?: Record<string, string>;
    },
  ) => Promise<TestReply<T>>;
  /** A tenant and a key of it with the given scopes. */
  tenantWithKey: (scopes?: Scope[]) => Promise<{ tenantId: string; token: string }>;
  close: () => Promise<void>;
};

/** The real app, listening on a free port over HTTP, on a fresh database. */
/**
 * `mail`: where the app's e-mail goes; give an SMTP URL from test/support/smtp.ts to read it.
 * `publicUrl`: the address the installation says it is reached at (AVOW_PUBLIC_URL).
 */
export async function startTestAvow(
  options: { mail?: MailSettings; publicUrl?: string } = {},
): Promise<TestAvow> {
  const database = await openTestDatabase();
  const generated = generateInstallationKeys();
  const keys: InstallationKeys = generated;
  const logLines: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logLines.push(String(chunk));
      done();
    },
  });
  const { app, services } = await createAvow({
    database,
    keys,
    logger: createLogger('info', sink),
    publicUrl: options.publicUrl ?? 'http://127.0.0.1',
    ...(options.mail ? { mail: options.mail } : {}),
    // A worker that looks for jobs often, so tests see them worked quickly;
    // no cron, so no scheduled run (consent.expire at :27, audit.checkpoint at
    // :07) lands in the middle of a test. Tests run jobs themselves.
    jobs: { pollingIntervalSeconds: 0.5, cron: false },
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('no address');
  const baseUrl = `http://127.0.0.1:${address.port}`;

  const operator = await services.apiKeys.create({
    name: 'test operator',
    scopes: ['operator'],
    tenantId: null,
    createdBy: null,
  });

  const call: TestAvow['call'] = async (method, path, options = {}) => {
    const headers: Record<string, string> = { ...options.headers };
    const token = options.token === undefined ? operator.token : options.token;
    if (token) headers.authorization = `Bearer ${token}`;
    let body: string | undefined;
    if (options.rawBody !== undefined) body = options.rawBody;
    else if (options.body !== undefined) body = JSON.stringify(options.body);
    if (body !== undefined && !headers['content-type'])
      headers['content-type'] = 'application/json';
    const response = await fetch(`${baseUrl}${path}`, { method, headers, body });
    const text = await response.text();
    let parsed: unknown = text;
    if (response.headers.get('content-type')?.includes('json') && text) parsed = JSON.parse(text);
    return { status: response.status, headers: response.headers, body: parsed as never, text };
  };

  return {
    baseUrl,
    database,
    services,
    keys,
    operatorToken: operator.token,
    logs: () => logLines.join(''),
    call,
    tenantWithKey: async (scopes = ['admin']) => {
      const tenant = await services.tenants.create({
        name: 'Test tenant',
        role: 'controller',
        region: 'eu',
      });
      const key = await services.apiKeys.create({
        name: 'test',
        scopes,
        tenantId: tenant.id,
        createdBy: null,
      });
      return { tenantId: tenant.id, token: key.token };
    },
    close: async () => {
      await app.close();
      await database.close();
    },
  };
}
