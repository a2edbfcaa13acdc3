import { Writable } from 'node:stream';
import { afterAll, expect, it } from 'vitest';
import { generateInstallationKeys } from '../../src/crypto/installation-keys.js';
import { createAvow } from '../../src/server/app.js';
import { bootstrapInstallation } from '../../src/server/bootstrap.js';
import { createLogger } from '../../src/server/logger.js';
import { openTestDatabase } from '../support/database.js';

const database = await openTestDatabase();
const generated = generateInstallationKeys();
const { app, services } = await createAvow({
  database,
  keys: generated,
  logger: createLogger('warn', new Writable({ write: (_c, _e, done) => done() })),
  publicUrl: 'http://127.0.0.1',
});
afterAll(async () => {
  await app.close();
  await database.close();
});

it('first start gives the demo tenant the demo register, and its policy page works', async () => {
  const first = await bootstrapInstallation(database.db, services, { seedDemo: true });
  if (!first.created || !first.demoTenantId) throw new Error('expected a demo tenant');
  const active = await services.register.getActiveRegister(first.demoTenantId);
  expect(active?.register.organisation.name).toBe('Demo Company Oy');
  const page = await app.inject({
    method: 'GET',
    url: `/v1/tenants/${first.demoTenantId}/privacy-policy`,
  });
  expect(page.statusCode).toBe(200);
  expect(page.body).toContain('Demo Company Privacy Policy');
});
