import { z } from 'zod';
import { auditContextFrom } from '../audit/audit-events.js';
import { notFound } from '../errors/errors.js';
import type { App } from '../http/app-types.js';
import { principalOf } from '../http/auth.js';
import {
  authErrors,
  calendarDate,
  errorReply,
  page,
  pageQuery,
  timestamp,
  toPage,
} from '../http/schemas.js';
import { idPattern } from '../ids/ids.js';
import type { TenantService } from './tenants-service.js';

const controllerContact = z
  .object({
    name: z.string().trim().min(1).max(200),
    email: z.email().optional(),
    url: z.url().optional(),
  })
  .strict()
  .refine((c) => c.email || c.url, { message: 'give an email or a url to reach the controller' });

const tenantReply = z
  .object({
    id: z.string(),
    name: z.string(),
    role: z.enum(['controller', 'processor']),
    controller: z
      .object({ name: z.string(), email: z.string().optional(), url: z.string().optional() })
      .nullable(),
    region: z.string(),
    contractStart: z.string(),
    contractEnd: z.string().nullable(),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'Tenant' });

const tenantFields = {
  name: z.string().trim().min(1).max(200),
  role: z
    .enum(['controller', 'processor'])
    .describe('controller of its users’ data, or processor for a named controller'),
  controller: controllerContact.nullable(),
  region: z.string().trim().min(1).max(64).describe('A data region label, such as eu-north'),
  contractStart: calendarDate,
  contractEnd: calendarDate.nullable(),
};

const createTenant = z
  .object({
    ...tenantFields,
    role: tenantFields.role.default('controller'),
    controller: tenantFields.controller.optional(),
    region: tenantFields.region.default('eu'),
    contractStart: calendarDate.optional(),
    contractEnd: calendarDate.nullable().optional(),
  })
  .strict();

const updateTenant = z.object(tenantFields).partial().strict();
const tenantParams = z.object({
  tenantId: z.string().regex(idPattern('tenant'), 'must be a tenant id (ten_...)'),
});

export function registerTenantRoutes(app: App, deps: { tenants: TenantService }): void {
  const { tenants } = deps;

  app.post(
    '/v1/tenants',
    {
      config: { access: 'operator' },
      schema: {
        tags: ['tenants'],
        summary: 'Create a tenant',
        body: createTenant,
        response: { 201: tenantReply, ...authErrors },
      },
    },
    async (request, reply) =>
      reply.status(201).send(await tenants.create(request.body, auditContextFrom(request))),
  );

  app.get(
    '/v1/tenants',
    {
      config: { access: 'operator' },
      schema: {
        tags: ['tenants'],
        summary: 'List tenants',
        querystring: pageQuery,
        response: { 200: page(tenantReply), ...authErrors },
      },
    },
    async (request) => toPage(await tenants.list(request.query), request.query.limit),
  );

  app.get(
    '/v1/tenants/:tenantId',
    {
      // A tenant's admin may read its own tenant; anyone else's is "not found".
      config: { access: 'admin' },
      schema: {
        tags: ['tenants'],
        summary: 'Get a tenant',
        params: tenantParams,
        response: { 200: tenantReply, ...authErrors },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      if (principal.tenantId !== null && principal.tenantId !== request.params.tenantId)
        throw notFound('Tenant');
      return tenants.get(request.params.tenantId);
    },
  );

  app.patch(
    '/v1/tenants/:tenantId',
    {
      config: { access: 'operator' },
      schema: {
        tags: ['tenants'],
        summary: 'Update a tenant (name, role, controller, region, contract dates)',
        params: tenantParams,
        body: updateTenant,
        response: { 200: tenantReply, ...authErrors, 409: errorReply },
      },
    },
    async (request) =>
      tenants.update(request.params.tenantId, request.body, auditContextFrom(request)),
  );
}
