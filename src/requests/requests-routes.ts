import { z } from 'zod';
import type { Db } from '../db/database.js';
import type { App } from '../http/app-types.js';
import { tenantOf } from '../http/auth.js';
import { authErrors, errorReply, page, pageQuery, timestamp, toPage } from '../http/schemas.js';
import { idPattern } from '../ids/ids.js';
import { vaultContext } from '../vault/vault-routes.js';
import { requestStatuses, requestTypes } from './requests-model.js';
import type { RequestsService } from './requests-service.js';

/**
 * Rights requests for the tenant's operators and integrations (scope
 * `requests`): create on a subject's behalf, list with deadlines, show with
 * the timeline, move through the states, extend, fulfil, and the processor
 * routing to a controller.
 */
export const requestTypeSchema = z.enum(requestTypes).describe('The right exercised');
const purposeKey = z.string().min(1).max(200);

export const requestFields = {
  type: requestTypeSchema,
  email: z.email().max(320).describe('Where the requester is answered'),
  name: z.string().trim().min(1).max(200).optional(),
  purposes: z
    .array(purposeKey)
    .max(100)
    .optional()
    .describe('Objection, consent withdrawal: the purposes (default: all that apply)'),
  ground: z
    .string()
    .max(64)
    .optional()
    .describe('Restriction: the Art. 18(1) ground (one of the register’s restrictionGrounds)'),
  format: z.enum(['json', 'csv']).optional(),
  corrections: z
    .array(
      z
        .object({
          category: z.string().min(1).max(200),
          value: z.string().min(1).max(10_000),
          note: z.string().max(1000).optional(),
        })
        .strict(),
    )
    .max(50)
    .optional()
    .describe('Rectification: what should be corrected, by data category'),
  message: z.string().max(5000).optional(),
};

const timelineEntry = z.object({
  seq: z.number().int(),
  at: timestamp,
  kind: z.string(),
  fromStatus: z.string().nullable(),
  toStatus: z.string().nullable(),
  actor: z.string(),
  message: z.string(),
});

const signedReceipt = z
  .object({
    receipt: z.record(z.string(), z.unknown()),
    signature: z.object({ alg: z.literal('Ed25519'), value: z.string() }),
  })
  .meta({ id: 'RequestReceipt' });

export const requestReply = z
  .object({
    id: z.string(),
    tenantId: z.string(),
    type: requestTypeSchema,
    status: z.enum(requestStatuses),
    channel: z.enum(['public', 'api']),
    verificationMethod: z.string().nullable(),
    subjectId: z.string().nullable(),
    requester: z.object({ email: z.string(), name: z.string().nullable() }).nullable(),
    details: z.record(z.string(), z.unknown()),
    registerVersion: z.string().nullable(),
    deadline: z.string().describe('The register’s deadline, e.g. P1M'),
    receivedAt: timestamp,
    verifiedAt: timestamp.nullable(),
    dueAt: timestamp,
    dueDate: z.string().describe('The day the answer is due (UTC), YYYY-MM-DD'),
    overdue: z.boolean(),
    paused: z.boolean().describe('The clock is stopped: waiting for the requester'),
    extension: z.string().nullable(),
    extensionReason: z.string().nullable(),
    completedAt: timestamp.nullable(),
    statusReason: z.string().nullable(),
    outcome: z.record(z.string(), z.unknown()).nullable(),
    receipt: signedReceipt.nullable(),
    forwardedAt: timestamp.nullable(),
    controllerAnswer: z.record(z.string(), z.unknown()).nullable(),
    timeline: z.array(timelineEntry).nullable(),
  })
  .meta({ id: 'RightsRequest' });

const requestParams = z.object({
  requestId: z.string().regex(idPattern('rightsRequest'), 'must be a request id (req_...)'),
});

const fulfilBody = z
  .object({
    rectifications: z
      .array(
        z
          .object({
            recordId: z.string().min(1).max(100),
            value: z.unknown(),
            reason: z.string().max(1000).optional(),
          })
          .strict(),
      )
      .max(100)
      .optional(),
    erasureMethod: z.enum(['delete', 'pseudonymize']).optional(),
    overrides: z
      .array(z.object({ purpose: purposeKey, reason: z.string().min(1).max(1000) }).strict())
      .max(100)
      .optional(),
  })
  .strict();

export const controllerAnswerBody = z
  .object({
    decision: z
      .enum(['fulfil', 'reject', 'handled'])
      .describe(
        'fulfil: Avow carries it out here; reject: with a reason; handled: the controller answered the person itself',
      ),
    reason: z.string().min(1).max(1000).optional(),
    options: fulfilBody.optional(),
  })
  .strict();

const routeReply = z.object({
  webhookUrl: z.string().nullable(),
  email: z.string().nullable(),
  hasSecret: z.boolean(),
  secret: z
    .string()
    .nullable()
    .describe('The Standard Webhooks secret, shown once when created or rotated'),
});

const listQuery = pageQuery.extend({
  status: z
    .string()
    .max(300)
    .optional()
    .transform((s) => (s ? s.split(',') : undefined))
    .pipe(z.array(z.enum(requestStatuses)).optional())
    .describe('Comma-separated statuses'),
  type: requestTypeSchema.optional(),
  overdue: z
    .enum(['true', 'false'])
    .optional()
    .transform((v) => (v === undefined ? undefined : v === 'true')),
  subjectId: z.string().max(100).optional(),
  sort: z.enum(['due', 'received']).default('due').describe('due: soonest (overdue) first'),
});

export function registerRequestRoutes(app: App, deps: { requests: RequestsService; db: Db }): void {
  const { requests, db } = deps;
  const tags = ['requests'];

  app.post(
    '/v1/requests',
    {
      config: { access: 'requests' },
      schema: {
        tags,
        summary:
          'File a request on a subject’s behalf (the authenticated call verifies the identity)',
        body: z
          .object({
            ...requestFields,
            subjectId: z.string().regex(idPattern('subject')).optional(),
          })
          .strict(),
        response: { 201: requestReply, ...authErrors, 409: errorReply, 422: errorReply },
      },
    },
    async (request, reply) => {
      const tenantId = await tenantOf(request, db);
      const { request: created } = await requests.create(
        vaultContext(request, tenantId),
        request.body,
        'api',
      );
      return reply.status(201).send(await requests.get(tenantId, created.id));
    },
  );

  app.get(
    '/v1/requests',
    {
      config: { access: 'requests' },
      schema: {
        tags,
        summary: 'List requests, soonest due (and overdue) first',
        querystring: listQuery,
        response: { 200: page(requestReply), ...authErrors },
      },
    },
    async (request) => {
      const tenantId = await tenantOf(request, db);
      const q = request.query;
      return toPage(
        await requests.list(tenantId, {
          status: q.status,
          type: q.type,
          overdue: q.overdue,
          subjectId: q.subjectId,
          sort: q.sort,
          after: q.after,
          limit: q.limit,
        }),
        q.limit,
      );
    },
  );

  app.get(
    '/v1/requests/:requestId',
    {
      config: { access: 'requests' },
      schema: {
        tags,
        summary: 'Show a request with its timeline',
        params: requestParams,
        response: { 200: requestReply, ...authErrors },
      },
    },
    async (request) => requests.get(await tenantOf(request, db), request.params.requestId),
  );

  app.post(
    '/v1/requests/:requestId/transition',
    {
      config: { access: 'requests' },
      schema: {
        tags,
        summary: 'Move a request to another state (illegal moves are refused with 409)',
        params: requestParams,
        body: z
          .object({
            to: z.enum(requestStatuses),
            reason: z
              .string()
              .min(1)
              .max(1000)
              .optional()
              .describe(
                'Required for rejected, awaiting_requester, partially_completed; sent to the requester',
              ),
            method: z
              .string()
              .max(64)
              .optional()
              .describe('For verified: the register’s verification method used'),
            summary: z
              .string()
              .min(1)
              .max(2000)
              .optional()
              .describe('For completed by hand: what was done'),
          })
          .strict(),
        response: { 200: requestReply, ...authErrors, 409: errorReply, 422: errorReply },
      },
    },
    async (request) => {
      const tenantId = await tenantOf(request, db);
      return requests.transition(
        vaultContext(request, tenantId),
        request.params.requestId,
        request.body,
      );
    },
  );

  app.post(
    '/v1/requests/:requestId/extend',
    {
      config: { access: 'requests' },
      schema: {
        tags,
        summary:
          'Extend the deadline once (up to two months, as the register allows); the reason is sent to the requester',
        params: requestParams,
        body: z
          .object({
            duration: z
              .string()
              .regex(/^P(?=\d)(\d+M)?(\d+W)?(\d+D)?$/, 'P1M, P2M, P30D...')
              .optional(),
            reason: z.string().min(1).max(1000),
          })
          .strict(),
        response: { 200: requestReply, ...authErrors, 409: errorReply },
      },
    },
    async (request) => {
      const tenantId = await tenantOf(request, db);
      return requests.extend(
        vaultContext(request, tenantId),
        request.params.requestId,
        request.body,
      );
    },
  );

  app.post(
    '/v1/requests/:requestId/fulfil',
    {
      config: { access: 'requests' },
      schema: {
        tags,
        summary: 'Carry out a verified request and send the signed completion receipt',
        params: requestParams,
        body: fulfilBody.default({}),
        response: {
          200: requestReply,
          ...authErrors,
          409: errorReply,
          410: errorReply,
          422: errorReply,
        },
      },
    },
    async (request) => {
      const tenantId = await tenantOf(request, db);
      return requests.fulfil(
        vaultContext(request, tenantId),
        request.params.requestId,
        request.body,
      );
    },
  );

  app.post(
    '/v1/requests/:requestId/lift-restriction',
    {
      config: { access: 'requests' },
      schema: {
        tags,
        summary: 'Lift a restriction (recorded; the subject is told)',
        params: requestParams,
        body: z.object({ reason: z.string().min(1).max(1000) }).strict(),
        response: { 200: requestReply, ...authErrors, 409: errorReply, 410: errorReply },
      },
    },
    async (request) => {
      const tenantId = await tenantOf(request, db);
      return requests.liftRestriction(
        vaultContext(request, tenantId),
        request.params.requestId,
        request.body.reason,
      );
    },
  );

  app.post(
    '/v1/requests/:requestId/controller-answer',
    {
      config: { access: 'requests' },
      schema: {
        tags,
        summary: 'The controller’s answer to a forwarded request, through the API',
        params: requestParams,
        body: controllerAnswerBody,
        response: { 200: requestReply, ...authErrors, 409: errorReply },
      },
    },
    async (request) => {
      const tenantId = await tenantOf(request, db);
      return requests.controllerAnswer(
        vaultContext(request, tenantId),
        request.params.requestId,
        request.body,
      );
    },
  );

  app.get(
    '/v1/requests/controller-route',
    {
      config: { access: 'requests' },
      schema: {
        tags,
        summary: 'Where a processor tenant’s controller is reached',
        response: { 200: routeReply, ...authErrors },
      },
    },
    async (request) => requests.getControllerRoute(await tenantOf(request, db)),
  );

  app.put(
    '/v1/requests/controller-route',
    {
      config: { access: 'admin' },
      schema: {
        tags,
        summary:
          'Set the controller’s webhook URL and/or e-mail (the webhook secret is shown once)',
        body: z
          .object({
            webhookUrl: z
              .url({ protocol: /^https?$/ })
              .nullable()
              .optional(),
            email: z.email().nullable().optional(),
            rotateSecret: z.boolean().optional(),
          })
          .strict(),
        response: { 200: routeReply, ...authErrors },
      },
    },
    async (request) => requests.setControllerRoute(await tenantOf(request, db), request.body),
  );
}
