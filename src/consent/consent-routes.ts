import { z } from 'zod';
import { auditContextFrom } from '../audit/audit-events.js';
import type { Db } from '../db/database.js';
import { AppError } from '../errors/errors.js';
import type { App } from '../http/app-types.js';
import { tenantOf } from '../http/auth.js';
import { authErrors, errorReply, timestamp } from '../http/schemas.js';
import { idPattern } from '../ids/ids.js';
import { consentActions, consentChannels, consentMedia, ledgerChannels } from './consent-model.js';
import type { ConsentService, Holder } from './consent-service.js';

/**
 * The consent API for integrations. Writes need `consent:write`; reads of a
 * person's consent state, history and receipts need `vault:read`, because
 * the history holds (anonymised) addresses and user agents: it is personal
 * data about the subject, read like the rest of the vault. Once the subject
 * is erased, they answer 410, as the vault does.
 */

const purposeKey = z
  .string()
  .regex(/^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$/, 'a purpose key of the register, or cookies.<category>')
  .max(200);
const subjectId = z.string().regex(idPattern('subject'), 'must be a subject id (sub_...)');
const visitorId = z.string().regex(idPattern('visitor'), 'must be a visitor id (vis_...)');
const holderQuery = z
  .object({ subjectId: subjectId.optional(), visitorId: visitorId.optional() })
  .refine((h) => (h.subjectId ? !h.visitorId : !!h.visitorId), {
    message: 'give exactly one of subjectId and visitorId',
  });

export const consentEventReply = z
  .object({
    id: z.string(),
    holderId: z.string(),
    purpose: z.string(),
    medium: z.string(),
    action: z.enum(consentActions),
    channel: z.enum(ledgerChannels),
    registerVersion: z.string().nullable(),
    textHash: z.string().nullable(),
    ipAnonymised: z.string().nullable(),
    userAgent: z.string().nullable(),
    receiptId: z.string(),
    at: timestamp,
  })
  .meta({ id: 'ConsentEvent' });

export const consentStateReply = z
  .object({
    holderId: z.string(),
    purpose: z.string(),
    medium: z.string(),
    consent: z.enum(['given', 'withdrawn', 'refused', 'expired']).nullable(),
    consentAt: timestamp.nullable(),
    objectedAt: timestamp.nullable(),
    effective: z.enum(['given', 'not_given', 'objected']),
    channel: z.string(),
    registerVersion: z.string().nullable(),
    textHash: z.string().nullable(),
    lastEventId: z.string(),
    renewalRequired: z.boolean(),
    renewalRegisterVersion: z.string().nullable(),
    updatedAt: timestamp,
  })
  .meta({ id: 'ConsentState' });

export const signedReceiptReply = z
  .object({
    receipt: z.looseObject({ consentReceiptID: z.string() }),
    signature: z.object({ alg: z.literal('Ed25519'), value: z.string() }),
  })
  .meta({ id: 'ConsentReceipt' });

const recordReply = z.object({
  holderId: z.string(),
  events: z.array(consentEventReply),
  receipt: signedReceiptReply.nullable(),
  states: z.array(consentStateReply),
});

const holderFields = { subjectId: subjectId.optional(), visitorId: visitorId.optional() };
const oneHolder = (h: { subjectId?: string | undefined; visitorId?: string | undefined }) =>
  h.subjectId ? !h.visitorId : !!h.visitorId;

export const holderOf = (h: {
  subjectId?: string | undefined;
  visitorId?: string | undefined;
}): Holder => {
  if (h.subjectId) return { subjectId: h.subjectId };
  if (h.visitorId) return { visitorId: h.visitorId };
  throw new AppError('validation_failed', 'Give a subjectId or a visitorId', {
    details: [{ path: 'subjectId', message: 'give exactly one of subjectId and visitorId' }],
  });
};

const recordBody = z
  .object({
    ...holderFields,
    channel: z.enum(consentChannels).default('api').describe('Where the person made the choice'),
    purposes: z
      .array(
        z
          .object({
            purpose: purposeKey,
            action: z.enum(consentActions),
            medium: z
              .enum(consentMedia)
              .optional()
              .describe('Limit an opt-out to one contact medium'),
            textHash: z.string().min(1).max(200).optional().describe('Hash of the text you showed'),
          })
          .strict(),
      )
      .min(1)
      .max(100),
    ip: z.union([z.ipv4(), z.ipv6()]).optional().describe('The person’s IP; stored anonymised'),
    userAgent: z.string().max(1000).optional(),
  })
  .strict()
  .refine(oneHolder, {
    message: 'give exactly one of subjectId and visitorId',
    path: ['subjectId'],
  });

const withdrawBody = z
  .object({
    ...holderFields,
    purposes: z
      .array(purposeKey)
      .min(1)
      .max(100)
      .optional()
      .describe('Default: every purpose with consent given'),
    medium: z.enum(consentMedia).optional(),
    channel: z.enum(consentChannels).default('api'),
    ip: z.union([z.ipv4(), z.ipv6()]).optional(),
    userAgent: z.string().max(1000).optional(),
  })
  .strict()
  .refine(oneHolder, {
    message: 'give exactly one of subjectId and visitorId',
    path: ['subjectId'],
  });

const listQuery = z.object({
  subjectId: subjectId.optional(),
  visitorId: visitorId.optional(),
  purpose: purposeKey.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  after: z.string().min(1).max(200).optional(),
});

const nextCursor = <T extends { id: string }>(items: T[], limit: number) =>
  items.length === limit ? (items.at(-1)?.id ?? null) : null;

export function registerConsentRoutes(app: App, deps: { consent: ConsentService; db: Db }): void {
  const { consent, db } = deps;
  const tags = ['consent'];

  app.post(
    '/v1/consent/events',
    {
      config: { access: 'consent:write' },
      schema: {
        tags,
        summary:
          'Record consent events (given, withdrawn, refused, expired, objected) and get a signed receipt',
        body: recordBody,
        response: {
          201: recordReply,
          ...authErrors,
          409: errorReply,
          410: errorReply,
          422: errorReply,
        },
      },
    },
    async (request, reply) => {
      const tenantId = await tenantOf(request, db);
      const result = await consent.record({
        tenantId,
        holder: holderOf(request.body),
        changes: request.body.purposes,
        channel: request.body.channel,
        context: auditContextFrom(request),
        ip: request.body.ip,
        userAgent: request.body.userAgent,
      });
      return reply.status(201).send(result);
    },
  );

  app.post(
    '/v1/consent/withdrawals',
    {
      config: { access: 'consent:write' },
      schema: {
        tags,
        summary: 'Withdraw consent in one call: every purpose given, or the ones named',
        body: withdrawBody,
        response: {
          200: recordReply,
          ...authErrors,
          409: errorReply,
          410: errorReply,
          422: errorReply,
        },
      },
    },
    async (request) => {
      const tenantId = await tenantOf(request, db);
      return consent.withdraw({
        tenantId,
        holder: holderOf(request.body),
        purposes: request.body.purposes,
        medium: request.body.medium,
        channel: request.body.channel,
        context: auditContextFrom(request),
        ip: request.body.ip,
        userAgent: request.body.userAgent,
      });
    },
  );

  app.get(
    '/v1/consent/state',
    {
      config: { access: 'vault:read' },
      schema: {
        tags,
        summary: 'The current consent state of a subject or visitor, per purpose and medium',
        querystring: holderQuery,
        response: {
          200: z.object({ holderId: z.string(), states: z.array(consentStateReply) }),
          ...authErrors,
          410: errorReply,
        },
      },
    },
    async (request) => {
      const tenantId = await tenantOf(request, db);
      return consent.currentStates(tenantId, holderOf(request.query));
    },
  );

  app.get(
    '/v1/consent/events',
    {
      config: { access: 'vault:read' },
      schema: {
        tags,
        summary:
          'The consent history of a subject (with its linked visitors) or a visitor, oldest first',
        querystring: listQuery,
        response: {
          200: z.object({ items: z.array(consentEventReply), nextCursor: z.string().nullable() }),
          ...authErrors,
          410: errorReply,
        },
      },
    },
    async (request) => {
      const tenantId = await tenantOf(request, db);
      const { limit, after, purpose } = request.query;
      const items = await consent.history(tenantId, holderOf(request.query), {
        limit,
        after,
        purpose,
      });
      return { items, nextCursor: nextCursor(items, limit) };
    },
  );

  const receiptItem = signedReceiptReply.extend({ id: z.string(), holderId: z.string() });

  app.get(
    '/v1/consent/receipts',
    {
      config: { access: 'vault:read' },
      schema: {
        tags,
        summary: 'The signed consent receipts of a subject or visitor',
        querystring: listQuery.omit({ purpose: true }),
        response: {
          200: z.object({ items: z.array(receiptItem), nextCursor: z.string().nullable() }),
          ...authErrors,
          410: errorReply,
        },
      },
    },
    async (request) => {
      const tenantId = await tenantOf(request, db);
      const { limit, after } = request.query;
      const items = await consent.receipts(tenantId, holderOf(request.query), { limit, after });
      return { items, nextCursor: nextCursor(items, limit) };
    },
  );

  app.get(
    '/v1/consent/receipts/:receiptId',
    {
      config: { access: 'vault:read' },
      schema: {
        tags,
        summary: 'One signed consent receipt',
        params: z.object({ receiptId: z.string().max(200) }),
        response: { 200: receiptItem, ...authErrors, 410: errorReply },
      },
    },
    async (request) => {
      const tenantId = await tenantOf(request, db);
      return consent.receipt(tenantId, request.params.receiptId);
    },
  );

  app.post(
    '/v1/consent/visitors/:visitorId/link',
    {
      config: { access: 'consent:write' },
      schema: {
        tags,
        summary: 'Link an anonymous banner visitor to the subject it turned out to be',
        params: z.object({ visitorId }),
        body: z.object({ subjectId }).strict(),
        response: {
          200: z.object({ states: z.array(consentStateReply) }),
          ...authErrors,
          409: errorReply,
          410: errorReply,
        },
      },
    },
    async (request) => {
      const tenantId = await tenantOf(request, db);
      return consent.link(tenantId, request.params.visitorId, request.body.subjectId);
    },
  );

  app.post(
    '/v1/consent/unsubscribe-links',
    {
      config: { access: 'consent:write' },
      schema: {
        tags,
        summary:
          'A one-click unsubscribe URL (RFC 8058) and the List-Unsubscribe headers for one mail',
        body: z
          .object({
            subjectId,
            purpose: purposeKey,
            medium: z.enum(consentMedia).optional(),
            mailto: z
              .email()
              .optional()
              .describe('An address for mail-based unsubscribes, if you have one'),
          })
          .strict(),
        response: {
          200: z.object({
            url: z.string(),
            headers: z.object({
              'List-Unsubscribe': z.string(),
              'List-Unsubscribe-Post': z.literal('List-Unsubscribe=One-Click'),
            }),
          }),
          ...authErrors,
          409: errorReply,
          410: errorReply,
          422: errorReply,
        },
      },
    },
    async (request) => {
      const tenantId = await tenantOf(request, db);
      return consent.unsubscribeLink({ tenantId, ...request.body });
    },
  );

  app.post(
    '/v1/consent/renewals',
    {
      config: { access: 'register:write' },
      schema: {
        tags,
        summary: 'Mark consent given under another register version for renewal',
        body: z
          .object({
            purposes: z.array(purposeKey).min(1).max(200),
            registerVersion: z
              .string()
              .min(1)
              .max(200)
              .describe('The version consent must be renewed under'),
          })
          .strict(),
        response: { 200: z.object({ marked: z.number().int() }), ...authErrors },
      },
    },
    async (request) => {
      const tenantId = await tenantOf(request, db);
      const marked = await consent.markForRenewal(
        tenantId,
        request.body.purposes,
        request.body.registerVersion,
      );
      return { marked };
    },
  );
}
