import { z } from 'zod';
import { auditContextFrom } from '../audit/audit-events.js';
import type { Db } from '../db/database.js';
import { notFound } from '../errors/errors.js';
import type { App } from '../http/app-types.js';
import { tenantOf } from '../http/auth.js';
import { asPage } from '../http/pages.js';
import { authErrors, errorReply, page, pageQuery, timestamp, toPage } from '../http/schemas.js';
import { idPattern } from '../ids/ids.js';
import { recordOfProcessing, recordOfProcessingCsv } from './record-of-processing.js';
import { registerJsonSchema } from './register-schema.js';
import type { RegisterService } from './register-service.js';
import type { RegisterVersion } from './register-store.js';
import { renderPolicy } from './render.js';

const versionId = z
  .string()
  .regex(idPattern('registerVersion'), 'must be a register version id (rv_...)');

const versionSummary = z
  .object({
    id: z.string(),
    number: z.number().int(),
    contentHash: z.string().describe('SHA-256 of the YAML text, hex'),
    createdBy: z
      .string()
      .nullable()
      .describe('The API key id that published it; null for the installation'),
    createdAt: timestamp,
    active: z.boolean(),
  })
  .meta({ id: 'RegisterVersionSummary' });

const versionReply = versionSummary
  .extend({
    yaml: z.string(),
    register: z
      .record(z.string(), z.unknown())
      .describe(
        'The validated register with defaults applied; its schema is GET /v1/register/schema',
      ),
  })
  .meta({ id: 'RegisterVersion' });

const publishBody = z
  .union([z.string(), z.object({ yaml: z.string() }).strict()])
  .describe(
    'The register YAML, sent as application/yaml (or text/yaml, text/plain), or as JSON {"yaml": "..."}',
  );

const diffReply = z.object({
  from: z.string(),
  to: z.string(),
  material: z.boolean(),
  reasons: z.array(z.string()),
  changes: z.array(
    z.object({
      section: z.string(),
      key: z.string(),
      kind: z.enum(['added', 'removed', 'changed']),
      fields: z.array(z.object({ field: z.string(), from: z.unknown(), to: z.unknown() })),
    }),
  ),
  text: z.string(),
});

function toReply(v: RegisterVersion, active: boolean) {
  return {
    id: v.id,
    number: v.number,
    contentHash: v.contentHash,
    createdBy: v.createdBy,
    createdAt: v.createdAt,
    active,
    yaml: v.yaml,
    register: v.register as Record<string, unknown>,
  };
}

const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml'];

export function registerRegisterRoutes(
  app: App,
  deps: { register: RegisterService; db: Db },
): void {
  const { register, db } = deps;

  // YAML arrives as text; it is parsed (with positions) by the register validator.
  for (const type of YAML_TYPES)
    if (!app.hasContentTypeParser(type))
      app.addContentTypeParser(type, { parseAs: 'string' }, (_request, body, done) =>
        done(null, body),
      );

  app.get(
    '/v1/register/schema',
    {
      config: { access: 'public' },
      schema: {
        tags: ['register'],
        summary: 'The JSON Schema of the register format',
        security: [],
        response: { 200: z.record(z.string(), z.unknown()) },
      },
    },
    async () => registerJsonSchema(),
  );

  app.put(
    '/v1/register',
    {
      config: { access: 'register:write' },
      bodyLimit: 1024 * 1024,
      schema: {
        tags: ['register'],
        summary: 'Validate a register and make it the active version',
        description:
          'Valid and different from the active version: stored as a new immutable version and activated (201). Same content as the active version: nothing changes (200). Invalid: 422 with every problem (file, line, column, path, message, allowed) and nothing changes.',
        body: publishBody,
        response: {
          200: z.object({ created: z.boolean(), version: versionSummary }),
          201: z.object({ created: z.boolean(), version: versionSummary }),
          ...authErrors,
          422: errorReply,
        },
      },
    },
    async (request, reply) => {
      const tenantId = await tenantOf(request, db);
      const yaml = typeof request.body === 'string' ? request.body : request.body.yaml;
      const outcome = await register.publish(tenantId, yaml, auditContextFrom(request));
      return reply
        .status(outcome.created ? 201 : 200)
        .send({ created: outcome.created, version: { ...outcome.version, active: true } });
    },
  );

  app.get(
    '/v1/register',
    {
      config: { access: 'register:read' },
      schema: {
        tags: ['register'],
        summary: 'The active register version',
        response: { 200: versionReply, ...authErrors },
      },
    },
    async (request) => {
      const tenantId = await tenantOf(request, db);
      return toReply(await register.active(tenantId), true);
    },
  );

  app.get(
    '/v1/register/versions',
    {
      config: { access: 'register:read' },
      schema: {
        tags: ['register'],
        summary: 'Register versions, newest first',
        querystring: pageQuery,
        response: { 200: page(versionSummary), ...authErrors },
      },
    },
    async (request) => {
      const tenantId = await tenantOf(request, db);
      const active = await register.getActiveRegister(tenantId);
      const items = (await register.versions(tenantId, request.query)).map((v) => ({
        ...v,
        active: v.id === active?.versionId,
      }));
      return toPage(items, request.query.limit);
    },
  );

  app.get(
    '/v1/register/versions/:versionId',
    {
      config: { access: 'register:read' },
      schema: {
        tags: ['register'],
        summary: 'One register version',
        params: z.object({ versionId }),
        response: { 200: versionReply, ...authErrors },
      },
    },
    async (request) => {
      const tenantId = await tenantOf(request, db);
      const found = await register.version(tenantId, request.params.versionId);
      const active = await register.getActiveRegister(tenantId);
      return toReply(found, active?.versionId === found.id);
    },
  );

  app.get(
    '/v1/register/diff',
    {
      config: { access: 'register:read' },
      schema: {
        tags: ['register'],
        summary: 'What changed between two versions, and whether the change is material',
        querystring: z.object({
          from: versionId,
          to: versionId.optional().describe('Defaults to the active version'),
        }),
        response: { 200: diffReply, ...authErrors },
      },
    },
    async (request) => {
      const tenantId = await tenantOf(request, db);
      return register.diff(tenantId, request.query.from, request.query.to);
    },
  );

  app.get(
    '/v1/register/record-of-processing',
    {
      config: { access: 'register:read' },
      schema: {
        tags: ['register'],
        summary: 'The Art. 30 record of processing activities, from the active register',
        description: 'JSON by default; format=csv gives one row per processing activity.',
        querystring: z.object({ format: z.enum(['json', 'csv']).default('json') }),
      },
    },
    async (request, reply) => {
      const tenantId = await tenantOf(request, db);
      const { version, register: active } = await register.activeParsed(tenantId);
      const record = { registerVersion: version.id, ...recordOfProcessing(active) };
      if (request.query.format === 'csv')
        return reply
          .type('text/csv; charset=utf-8')
          .header(
            'content-disposition',
            `attachment; filename="record-of-processing-${version.id}.csv"`,
          )
          .send(recordOfProcessingCsv(record));
      return reply.type('application/json; charset=utf-8').send(JSON.stringify(record));
    },
  );

  app.get(
    '/v1/tenants/:tenantId/privacy-policy',
    {
      config: { access: 'public' },
      schema: {
        tags: ['register'],
        summary: "A tenant's privacy policy, rendered from its active register",
        description:
          'HTML (accessible, printable, no JavaScript) by default; format=md for Markdown.',
        security: [],
        params: z.object({
          tenantId: z.string().regex(idPattern('tenant'), 'must be a tenant id (ten_...)'),
        }),
        querystring: z.object({ format: z.enum(['html', 'md']).default('html') }),
      },
    },
    async (request, reply) => {
      const active = await register.getActiveRegister(request.params.tenantId);
      // An unknown tenant and one without a register look the same from outside.
      if (!active) throw notFound('Privacy policy');
      const format = request.query.format;
      if (format === 'html') asPage(reply);
      else reply.type('text/markdown; charset=utf-8');
      return reply
        .header('cache-control', 'public, max-age=60')
        .header('content-language', active.register.policy.language)
        .send(renderPolicy(active.register, format));
    },
  );
}
