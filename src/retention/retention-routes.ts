import { z } from 'zod';
import { auditContextFrom, auditTextMax } from '../audit/audit-events.js';
import type { Db } from '../db/database.js';
import { AppError } from '../errors/errors.js';
import type { App } from '../http/app-types.js';
import { tenantOf } from '../http/auth.js';
import { authErrors, errorReply, timestamp } from '../http/schemas.js';
import { retentionActions, retentionTriggers } from '../register/register-schema.js';
import type { RetentionService } from './retention-service.js';

const categoryCount = z.object({
  category: z.string(),
  due: z.number().int(),
  held: z.number().int(),
  kept: z.number().int(),
});

const reportReply = z
  .object({
    asOf: timestamp,
    registerVersion: z.string().nullable(),
    dryRun: z.boolean(),
    total: z.number().int().describe('Records removed (a run) or that would be (a dry run)'),
    held: z.number().int().describe('Due records a legal hold keeps'),
    kept: z
      .number()
      .int()
      .describe('Records the rule reached that a statutory or audit-log keep still holds'),
    rules: z.array(
      z.object({
        rule: z.string(),
        action: z.enum(retentionActions),
        due: z.number().int(),
        held: z.number().int(),
        kept: z.number().int(),
        categories: z.array(categoryCount),
      }),
    ),
    subjectsErased: z
      .number()
      .int()
      .describe(
        'Subjects whose last record went on a subject-wide trigger: erased, data key destroyed',
      ),
    subjectsPseudonymized: z.number().int(),
  })
  .meta({ id: 'RetentionReport' });

const dueItem = z.object({
  recordId: z.string(),
  subjectId: z.string(),
  category: z.string(),
  rule: z.string(),
  action: z.enum(retentionActions),
  trigger: z.enum(retentionTriggers).nullable(),
  dueAt: timestamp,
});

const previewReply = z
  .object({
    dryRun: z.literal(true),
    report: reportReply,
    items: z.array(dueItem).describe('The first records that would go, by subject'),
  })
  .meta({ id: 'RetentionPreview' });

const runReply = z
  .object({
    id: z.string(),
    status: z.enum(['running', 'completed', 'failed']),
    startedBy: z.string(),
    startedAt: timestamp,
    finishedAt: timestamp.nullable(),
    report: reportReply,
  })
  .meta({ id: 'RetentionRun' });

const holdReply = z
  .object({
    id: z.string(),
    scope: z.enum(['tenant', 'subject', 'category']),
    target: z.string().nullable(),
    reason: z.string(),
    createdBy: z.string(),
    createdAt: timestamp,
    releasedAt: timestamp.nullable(),
    releasedBy: z.string().nullable(),
    releaseReason: z.string().nullable(),
  })
  .meta({ id: 'LegalHold' });

const runBody = z.object({
  dryRun: z.boolean().default(false),
  asOf: z.iso
    .datetime({ offset: true })
    .optional()
    .describe('Dry runs only: preview a sweep at this time'),
  limit: z
    .number()
    .int()
    .min(0)
    .max(1000)
    .default(100)
    .describe('Dry runs: how many records to list'),
});

const idParams = z.object({ id: z.string().min(1).max(100) });

export function registerRetentionRoutes(
  app: App,
  deps: { retention: RetentionService; db: Db },
): void {
  const { retention, db } = deps;

  app.post(
    '/v1/retention/runs',
    {
      config: { access: 'retention' },
      schema: {
        tags: ['retention'],
        summary:
          'Sweep now, or with dryRun list what would go and why (rule, trigger, due date) without changing anything',
        body: runBody,
        response: { 200: previewReply, 201: runReply, ...authErrors },
      },
    },
    async (request, reply) => {
      const tenantId = await tenantOf(request, db);
      const body = request.body;
      if (!body.dryRun) {
        if (body.asOf !== undefined) {
          throw new AppError('validation_failed', 'A real sweep runs at the present time', {
            details: [{ path: 'body.asOf', message: 'only with dryRun: true' }],
          });
        }
        const run = await retention.run(auditContextFrom(request), tenantId);
        return reply.status(201).send(run);
      }
      const preview = await retention.preview(tenantId, {
        ...(body.asOf ? { asOf: new Date(body.asOf) } : {}),
        limit: body.limit,
      });
      return reply.status(200).send({ dryRun: true as const, ...preview });
    },
  );

  app.get(
    '/v1/retention/runs',
    {
      config: { access: 'retention' },
      schema: {
        tags: ['retention'],
        summary: 'Reports of past sweeps, newest first',
        querystring: z.object({
          limit: z.coerce.number().int().min(1).max(200).default(50),
          before: z.string().min(1).max(100).optional().describe('nextCursor of the previous page'),
        }),
        response: {
          200: z.object({ items: z.array(runReply), nextCursor: z.string().nullable() }),
          ...authErrors,
        },
      },
    },
    async (request) => {
      const tenantId = await tenantOf(request, db);
      const items = await retention.runs(tenantId, {
        limit: request.query.limit,
        ...(request.query.before ? { before: request.query.before } : {}),
      });
      const last = items.at(-1);
      return { items, nextCursor: items.length === request.query.limit && last ? last.id : null };
    },
  );

  app.get(
    '/v1/retention/runs/:id',
    {
      config: { access: 'retention' },
      schema: {
        tags: ['retention'],
        summary: 'One sweep and its report',
        params: idParams,
        response: { 200: runReply, ...authErrors },
      },
    },
    async (request) => retention.getRun(await tenantOf(request, db), request.params.id),
  );

  app.post(
    '/v1/legal-holds',
    {
      config: { access: 'retention' },
      schema: {
        tags: ['retention'],
        summary: 'Place a legal hold: no sweep touches what it covers until it is released',
        body: z.object({
          scope: z.enum(['tenant', 'subject', 'category']),
          target: z
            .string()
            .min(1)
            .max(200)
            .optional()
            .describe(
              'A subject id, or a category key (covers the keys under it); none for tenant',
            ),
          reason: z.string().min(1).max(auditTextMax),
        }),
        response: { 201: holdReply, ...authErrors },
      },
    },
    async (request, reply) => {
      const hold = await retention.createHold(
        auditContextFrom(request),
        await tenantOf(request, db),
        request.body,
      );
      return reply.status(201).send(hold);
    },
  );

  app.get(
    '/v1/legal-holds',
    {
      config: { access: 'retention' },
      schema: {
        tags: ['retention'],
        summary: 'Legal holds, oldest first',
        querystring: z.object({
          active: z.enum(['true', 'false']).optional().describe('true: only holds not released'),
          limit: z.coerce.number().int().min(1).max(500).default(100),
          after: z.string().min(1).max(100).optional(),
        }),
        response: {
          200: z.object({ items: z.array(holdReply), nextCursor: z.string().nullable() }),
          ...authErrors,
        },
      },
    },
    async (request) => {
      const { active, limit, after } = request.query;
      const items = await retention.holds(await tenantOf(request, db), {
        active: active === 'true',
        limit,
        ...(after ? { after } : {}),
      });
      const last = items.at(-1);
      return { items, nextCursor: items.length === limit && last ? last.id : null };
    },
  );

  app.get(
    '/v1/legal-holds/:id',
    {
      config: { access: 'retention' },
      schema: {
        tags: ['retention'],
        summary: 'One legal hold',
        params: idParams,
        response: { 200: holdReply, ...authErrors },
      },
    },
    async (request) => retention.hold(await tenantOf(request, db), request.params.id),
  );

  app.post(
    '/v1/legal-holds/:id/release',
    {
      config: { access: 'retention' },
      schema: {
        tags: ['retention'],
        summary: 'Release a legal hold; the next sweep applies the rules to what it covered',
        params: idParams,
        body: z.object({ reason: z.string().min(1).max(auditTextMax).optional() }).default({}),
        response: { 200: holdReply, 409: errorReply, ...authErrors },
      },
    },
    async (request) =>
      retention.releaseHold(
        auditContextFrom(request),
        await tenantOf(request, db),
        request.params.id,
        request.body.reason,
      ),
  );
}
