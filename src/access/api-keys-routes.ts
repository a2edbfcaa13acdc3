import { z } from 'zod';
import { auditContextFrom } from '../audit/audit-events.js';
import { AppError, notFound } from '../errors/errors.js';
import type { App } from '../http/app-types.js';
import { namedTenant, principalOf } from '../http/auth.js';
import { authErrors, errorReply, timestamp } from '../http/schemas.js';
import { idPattern } from '../ids/ids.js';
import type { TenantService } from '../tenancy/tenants-service.js';
import { type ApiKeyService, canManage } from './api-keys-service.js';
import { grants, scopeSchema } from './scopes.js';

const apiKeyReply = z
  .object({
    id: z.string(),
    tenantId: z.string().nullable(),
    name: z.string(),
    prefix: z.string().describe('The visible start of the key, to recognise it'),
    scopes: z.array(scopeSchema),
    createdAt: timestamp,
    createdBy: z.string().nullable(),
    revokedAt: timestamp.nullable(),
  })
  .meta({ id: 'ApiKey' });

const createKey = z
  .object({
    name: z.string().trim().min(1).max(200),
    scopes: z.array(scopeSchema).min(1),
    tenantId: z
      .string()
      .regex(idPattern('tenant'), 'must be a tenant id (ten_...)')
      .nullable()
      .optional()
      .describe(
        "The tenant the key acts for; omitted: the caller's tenant, or the one an installation key names in the Avow-Tenant header; null for an installation key",
      ),
  })
  .strict();

export function registerApiKeyRoutes(
  app: App,
  deps: { apiKeys: ApiKeyService; tenants: TenantService },
): void {
  const { apiKeys, tenants } = deps;

  app.get(
    '/v1/whoami',
    {
      config: { access: 'authenticated' },
      schema: {
        tags: ['keys'],
        summary: 'The key making this call: its id, tenant and scopes',
        response: {
          200: z.object({
            keyId: z.string(),
            tenantId: z.string().nullable(),
            scopes: z.array(scopeSchema),
          }),
          ...authErrors,
        },
      },
    },
    async (request) => principalOf(request),
  );

  app.post(
    '/v1/keys',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['keys'],
        summary: 'Create an API key; the secret is shown once, in this reply',
        body: createKey,
        response: { 201: z.object({ key: apiKeyReply, token: z.string() }), ...authErrors },
      },
    },
    async (request, reply) => {
      const caller = principalOf(request);
      // An operator acting on a tenant (Avow-Tenant) makes that tenant's keys
      // unless it asks for an installation key with tenantId: null.
      const tenantId =
        request.body.tenantId === undefined
          ? (caller.tenantId ?? namedTenant(request))
          : request.body.tenantId;
      if (!canManage(caller, tenantId)) throw notFound('Tenant');
      if (tenantId !== null) await tenants.get(tenantId);
      // A key can hand on only what it holds.
      const beyond = request.body.scopes.filter((scope) => !grants(caller.scopes, scope));
      if (beyond.length > 0) {
        throw new AppError(
          'forbidden',
          `This API key cannot grant scopes it does not hold: ${beyond.join(', ')}`,
        );
      }
      const created = await apiKeys.create(
        { ...request.body, tenantId, createdBy: caller.keyId },
        auditContextFrom(request),
      );
      return reply.status(201).send(created);
    },
  );

  app.get(
    '/v1/keys',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['keys'],
        summary: 'List API keys of a tenant, or the installation keys',
        querystring: z.object({
          tenantId: z
            .string()
            .regex(idPattern('tenant'))
            .optional()
            .describe(
              'Operators: whose keys; omitted, the tenant named in Avow-Tenant, else the installation keys',
            ),
          includeRevoked: z
            .enum(['true', 'false'])
            .default('false')
            .transform((v) => v === 'true'),
        }),
        response: { 200: z.object({ items: z.array(apiKeyReply) }), ...authErrors },
      },
    },
    async (request) => {
      const caller = principalOf(request);
      const tenantId = request.query.tenantId ?? caller.tenantId ?? namedTenant(request);
      if (!canManage(caller, tenantId)) throw notFound('Tenant');
      if (tenantId !== null && tenantId !== caller.tenantId) await tenants.get(tenantId);
      return { items: await apiKeys.list(tenantId, request.query.includeRevoked) };
    },
  );

  app.delete(
    '/v1/keys/:keyId',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['keys'],
        summary: 'Revoke an API key',
        params: z.object({
          keyId: z.string().regex(idPattern('apiKey'), 'must be a key id (key_...)'),
        }),
        response: { 200: apiKeyReply, ...authErrors, 409: errorReply },
      },
    },
    async (request) =>
      apiKeys.revoke(principalOf(request), request.params.keyId, auditContextFrom(request)),
  );
}
