import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { registerApiKeyRoutes } from '../access/api-keys-routes.js';
import { createApiKeyService } from '../access/api-keys-service.js';
import { registerAuditRoutes } from '../audit/audit-routes.js';
import { createAuditService } from '../audit/audit-service.js';
import { createConsentJobs } from '../consent/consent-jobs.js';
import { registerConsentPublicRoutes } from '../consent/consent-public-routes.js';
import { registerConsentRoutes } from '../consent/consent-routes.js';
import { createConsentService } from '../consent/consent-service.js';
import { purposesNeedingRenewal } from '../consent/renewal.js';
import { createBlindIndex } from '../crypto/blind-index.js';
import type { InstallationKeys } from '../crypto/installation-keys.js';
import { createKeyring } from '../crypto/keyring.js';
import { createSubjectKeys } from '../crypto/subject-keys.js';
import type { Database } from '../db/database.js';
import { registerDecisionRoutes } from '../decisions/decisions-routes.js';
import { createDecisionsService } from '../decisions/decisions-service.js';
import { createPolicySource } from '../decisions/policy-source.js';
import { createSubjectStateCache } from '../decisions/subject-state-cache.js';
import { loadSubjectState } from '../decisions/subject-state-store.js';
import { registerHealthRoutes } from '../health/health-routes.js';
import type { App } from '../http/app-types.js';
import { installAuthentication } from '../http/auth.js';
import { createHttpServer } from '../http/http-server.js';
import { createJobRunner, type JobDefinition } from '../jobs/jobs.js';
import { registerJobRoutes } from '../jobs/jobs-routes.js';
import { createMailer, type MailSettings } from '../mail/mailer.js';
import { registerRegisterRoutes } from '../register/register-routes.js';
import { createRegisterService } from '../register/register-service.js';
import { createRequestJobs } from '../requests/requests-jobs.js';
import { registerRequestPublicRoutes } from '../requests/requests-public-routes.js';
import { registerRequestRoutes } from '../requests/requests-routes.js';
import { createRequestsService } from '../requests/requests-service.js';
import { createRetentionJobs } from '../retention/retention-jobs.js';
import { registerRetentionRoutes } from '../retention/retention-routes.js';
import { createRetentionService } from '../retention/retention-service.js';
import { registerTenantRoutes } from '../tenancy/tenants-routes.js';
import { createTenantService } from '../tenancy/tenants-service.js';
import { registerVaultRoutes } from '../vault/vault-routes.js';
import { createVaultService } from '../vault/vault-service.js';

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
  /** Where e-mail goes: SMTP, or an outbox folder (default: one in the system temp folder). */
  mail?: MailSettings;
  /** Whether this process works background jobs (AVOW_WORKER); default true. */
  worker?: boolean;
  /** Queue timings: how often an idle worker polls, how long stop() waits for running jobs. */
  jobs?: { pollingIntervalSeconds?: number; stopTimeoutSeconds?: number; cron?: boolean };
};

export const avowVersion: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

export function createServices(options: AvowOptions) {
  const { db } = options.database;
  const keyring = createKeyring({
    masterKeys: [
      ...(options.keys.previousMasterKeys ?? []),
      { version: options.keys.masterKeyVersion, key: options.keys.masterKey },
    ],
    signingKey: options.keys.signingKey,
  });
  const subjectKeys = createSubjectKeys({ keyring });
  const mailer = createMailer(
    options.mail ?? {
      kind: 'outbox',
      dir: path.join(tmpdir(), 'avow-outbox'),
      from: 'Avow <privacy@localhost>',
    },
    options.logger,
  );
  const audit = createAuditService({
    db,
    keyring,
    subjectKeys,
    writes: options.database.writes,
  });
  const tenants = createTenantService({ db, audit });
  const register = createRegisterService({
    db,
    audit,
    // Called after a new version commits; the services it reaches are built below.
    onActivated: async (event) => {
      policies.forget(event.tenantId);
      const renew = purposesNeedingRenewal(event.register, event.diff);
      if (renew.length > 0) await consent.markForRenewal(event.tenantId, renew, event.versionId);
    },
  });
  const apiKeys = createApiKeyService({
    db,
    audit,
    cacheSeconds: options.apiKeyCacheSeconds ?? 10,
  });
  const jobs = createJobRunner({
    database: options.database,
    logger: options.logger,
    ...options.jobs,
  });
  const blindIndex = createBlindIndex({ db, keyring });
  const policies = createPolicySource({ registers: register });
  const vault = createVaultService({ db, subjectKeys, blindIndex, audit, policies });
  const decisions = createDecisionsService({
    db,
    policies,
    blindIndex,
    audit,
    stateCache: createSubjectStateCache({
      writes: options.database.writes,
      load: (key) => loadSubjectState(db, key),
    }),
  });
  const consent = createConsentService({
    db,
    keyring,
    audit,
    subjectKeys,
    registers: register,
    publicUrl: options.publicUrl,
  });
  const retention = createRetentionService({ db, policies, audit, vault });
  const requests = createRequestsService({
    db,
    keyring,
    blindIndex,
    mailer,
    audit,
    register,
    policies,
    tenants,
    jobs,
    vault,
    decisions,
    consent,
    holds: retention,
    logger: options.logger,
    publicUrl: options.publicUrl,
  });
  return {
    keyring,
    subjectKeys,
    mailer,
    audit,
    tenants,
    register,
    apiKeys,
    jobs,
    blindIndex,
    policies,
    vault,
    decisions,
    consent,
    retention,
    requests,
  };
}

export type Services = ReturnType<typeof createServices>;

/**
 * Every domain's background jobs and schedules, built from the services they
 * call. `avow serve` and `avow worker` both register these. Add a domain's
 * with `...createXJobs(services)` (each a `defineJob(...)`).
 */
export function jobDefinitions(_services: Services): JobDefinition[] {
  return [
    ...createRetentionJobs({
      jobs: _services.jobs,
      retention: _services.retention,
      policies: _services.policies,
      audit: _services.audit,
    }),
    ...createRequestJobs(_services.requests),
    ...createConsentJobs({
      consent: _services.consent,
      tenantIds: _services.retention.tenantIds,
    }),
  ];
}

/** Registers every job and starts the queue; `work: false` only sends (AVOW_WORKER=false). */
export async function startJobs(services: Services, options: { work: boolean }): Promise<void> {
  await services.jobs.register(...jobDefinitions(services));
  await services.jobs.start(options);
}

export async function createAvow(options: AvowOptions): Promise<{ app: App; services: Services }> {
  const services = createServices(options);
  const app = await createHttpServer({
    logger: options.logger,
    trustProxy: options.trustProxy ?? false,
    publicUrl: options.publicUrl,
    version: avowVersion,
  });
  installAuthentication(app, { apiKeys: services.apiKeys, audit: services.audit });

  registerHealthRoutes(app, { db: options.database.db });
  registerTenantRoutes(app, { tenants: services.tenants });
  registerAuditRoutes(app, { audit: services.audit, db: options.database.db });
  registerApiKeyRoutes(app, { apiKeys: services.apiKeys, tenants: services.tenants });
  registerRegisterRoutes(app, { register: services.register, db: options.database.db });
  registerJobRoutes(app, { jobs: services.jobs });
  registerVaultRoutes(app, { vault: services.vault, db: options.database.db });
  registerDecisionRoutes(app, { decisions: services.decisions, db: options.database.db });
  registerConsentRoutes(app, { consent: services.consent, db: options.database.db });
  await registerConsentPublicRoutes(app, { consent: services.consent });
  registerRequestRoutes(app, { requests: services.requests, db: options.database.db });
  await registerRequestPublicRoutes(app, {
    requests: services.requests,
    register: services.register,
  });
  registerRetentionRoutes(app, { retention: services.retention, db: options.database.db });

  await startJobs(services, { work: options.worker ?? true });
  // Closing the app stops the worker gracefully: running jobs finish first.
  app.addHook('onClose', async () => {
    await services.jobs.stop();
    services.mailer.close();
  });

  // Decisions keep subject state in memory only while they hear other processes'
  // writes (PostgreSQL); until then they read through, so a failure here costs
  // speed, not correctness, and the listener keeps retrying.
  await options.database.writes.listen().catch((error: { code?: string }) => {
    options.logger.warn(
      { code: error.code },
      "not yet listening for other processes' writes; decisions read the database until it is",
    );
  });
  await app.ready();
  return { app, services };
}
