import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { registerApiKeyRoutes } from '../access/api-keys-routes.js';
import { createApiKeyService } from '../access/api-keys-service.js';
import type { InstallationKeys } from '../crypto/installation-keys.js';
import { createKeyring } from '../crypto/keyring.js';
import { createSubjectKeys } from '../crypto/subject-keys.js';
import type { Database } from '../db/database.js';
import { registerHealthRoutes } from '../health/health-routes.js';
import type { App } from '../http/app-types.js';
import { installAuthentication } from '../http/auth.js';
import { createHttpServer } from '../http/http-server.js';
import { registerTenantRoutes } from '../tenancy/tenants-routes.js';
import { createTenantService } from '../tenancy/tenants-service.js';

/**
 * The composition root: the one place that builds every service from its
 * dependencies and hands them to the routes. Nothing else constructs services.
 */
export type AvowOptions = {
  database: Database;
  keys: InstallationKeys;
  logger: Logger;
  publicUrl: string;
  trustProxy?: boolean;
  apiKeyCacheSeconds?: number;
};

export const avowVersion: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

export function createServices(options: AvowOptions) {
  const { db } = options.database;
  const keyring = createKeyring({
    masterKeys: [{ version: options.keys.masterKeyVersion, key: options.keys.masterKey }],
    signingKey: options.keys.signingKey,
  });
  const subjectKeys = createSubjectKeys({ keyring });
  const tenants = createTenantService({ db });
  const apiKeys = createApiKeyService({ db, cacheSeconds: options.apiKeyCacheSeconds ?? 10 });
  return { keyring, subjectKeys, tenants, apiKeys };
}

export type Services = ReturnType<typeof createServices>;

export async function createAvow(options: AvowOptions): Promise<{ app: App; services: Services }> {
  const services = createServices(options);
  const app = await createHttpServer({
    logger: options.logger,
    trustProxy: options.trustProxy ?? false,
    publicUrl: options.publicUrl,
    version: avowVersion,
  });
  installAuthentication(app, { apiKeys: services.apiKeys });

  registerHealthRoutes(app, { db: options.database.db });
  registerTenantRoutes(app, { tenants: services.tenants });
  registerApiKeyRoutes(app, { apiKeys: services.apiKeys, tenants: services.tenants });

  await app.ready();
  return { app, services };
}
