import { z } from 'zod';
import { auditContextFrom } from '../audit/audit-events.js';
import { identityKinds } from '../crypto/blind-index.js';
import type { Db } from '../db/database.js';
import type { App } from '../http/app-types.js';
import { tenantOf } from '../http/auth.js';
import { authErrors, errorReply, timestamp } from '../http/schemas.js';
import { idPattern } from '../ids/ids.js';
import type { VaultContext, VaultService } from './vault-service.js';

export const identitySchema = z
  .object({
    kind: z.enum(identityKinds),
    value: z.string().min(1).max(500),
    type: z
      .string()
      .min(1)
      .max(64)
      .optional()
      .describe('For kind external: the system the id belongs to'),
  })
  .strict()
  .meta({ id: 'Identity' });

const sourceSchema = z
  .discriminatedUnion('type', [
    z.object({ type: z.enum(['subject', 'contracting_party', 'automatic']) }).strict(),
    z.object({ type: z.literal('public_source'), reference: z.string().min(1).max(2000) }).strict(),
    z.object({ type: z.literal('third_party'), name: z.string().min(1).max(500) }).strict(),
  ])
  .meta({ id: 'RecordSource' });

const sourceInput = z.union([
  z.enum(['subject', 'contracting_party', 'automatic']).transform((type) => ({ type })),
  sourceSchema,
]);

const valueSchema = z.union([
  z.string().max(100_000),
  z.number(),
  z.boolean(),
  z.record(z.string(), z.unknown()),
  z.array(z.unknown()),
]);

const subjectParams = z.object({
  subjectId: z.string().regex(idPattern('subject'), 'must be a subject id (sub_...)'),
});
const recordParams = subjectParams.extend({
  recordId: z.string().regex(idPattern('record'), 'must be a record id (rec_...)'),
});

const subjectReply = z
  .object({
    id: z.string(),
    kind: z.string(),
    status: z.enum(['active', 'merged', 'pseudonymized', 'erased']),
    mergedInto: z.string().nullable(),
    pseudonym: z.string().nullable(),
    restrictedAt: timestamp.nullable(),
    restrictionGround: z.string().nullable(),
    lastActivityAt: timestamp.nullable(),
    relationshipStartedAt: timestamp.nullable(),
    relationshipEndedAt: timestamp.nullable(),
    contractEndedAt: timestamp.nullable(),
    roleEndedAt: timestamp.nullable(),
    accountDeletedAt: timestamp.nullable(),
    createdAt: timestamp,
    updatedAt: timestamp,
    erasedAt: timestamp.nullable(),
  })
  .meta({ id: 'Subject' });

const recordMeta = z
  .object({
    id: z.string(),
    subjectId: z.string(),
    category: z.string(),
    source: z.object({ type: z.string() }),
    purposes: z.array(z.string()),
    version: z.number().int(),
    collectedAt: timestamp,
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'RecordMeta' });

const recordReply = recordMeta
  .extend({ value: z.unknown(), source: sourceSchema })
  .meta({ id: 'Record' });

const categoryDecision = z.object({
  category: z.string(),
  allowed: z.boolean(),
  reasons: z.array(z.string()),
});

const timestampsBody = z
  .object({
    kind: z.string().min(1).max(200).optional(),
    lastActivityAt: timestamp.nullable().optional(),
    relationshipStartedAt: timestamp.nullable().optional(),
    relationshipEndedAt: timestamp.nullable().optional(),
    contractEndedAt: timestamp.nullable().optional(),
    roleEndedAt: timestamp.nullable().optional(),
    accountDeletedAt: timestamp.nullable().optional(),
    fulfilledPurposes: z
      .record(z.string().min(1).max(200), timestamp.nullable())
      .refine((purposes) => Object.keys(purposes).length <= 100, 'at most 100 purposes at once')
      .optional()
      .describe(
        'Purposes that have done their work for this subject, by register key, and since when (null: not fulfilled after all). A fulfilled purpose may no longer use the data, and purpose_fulfilled retention rules start then.',
      ),
  })
  .strict();

const newRecord = z
  .object({
    category: z.string().min(1).max(200),
    value: valueSchema,
    source: sourceInput,
    purposes: z.array(z.string().min(1).max(200)).min(1).max(50),
    collectedAt: timestamp.optional(),
  })
  .strict();

export function vaultContext(
  request: Parameters<typeof auditContextFrom>[0],
  tenantId: string,
): VaultContext {
  return { ...auditContextFrom(request), tenantId };
}

export function registerVaultRoutes(app: App, deps: { vault: VaultService; db: Db }): void {
  const { vault, db } = deps;
  const ctx = async (request: Parameters<typeof auditContextFrom>[0]) =>
    vaultContext(request, await tenantOf(request, db));

  app.post(
    '/v1/subjects',
    {
      config: { access: 'vault:write' },
      schema: {
        tags: ['vault'],
        summary: 'Find the subject these identities belong to, or create it',
        body: z
          .object({
            kind: z.string().min(1).max(200).describe('A data subject key of the register'),
            identities: z.array(identitySchema).max(50).default([]),
          })
          .strict(),
        response: {
          200: z.object({ created: z.boolean(), subject: subjectReply }),
          201: z.object({ created: z.boolean(), subject: subjectReply }),
          ...authErrors,
          409: errorReply,
          410: errorReply,
        },
      },
    },
    async (request, reply) => {
      const out = await vault.findOrCreate(await ctx(request), request.body);
      return reply.status(out.created ? 201 : 200).send(out);
    },
  );

  app.post(
    '/v1/subjects/lookup',
    {
      // POST, so an identity never sits in a URL or an access log.
      config: { access: 'vault:read' },
      schema: {
        tags: ['vault'],
        summary: 'Find a subject by one identity',
        body: identitySchema,
        response: { 200: subjectReply, ...authErrors },
      },
    },
    async (request) => vault.lookup(await ctx(request), request.body),
  );

  app.get(
    '/v1/subjects/:subjectId',
    {
      config: { access: 'vault:read' },
      schema: {
        tags: ['vault'],
        summary: 'A subject: state, timestamps, which identities and records it has (no values)',
        params: subjectParams,
        response: {
          200: z.object({
            subject: subjectReply,
            identityKinds: z.array(z.string()),
            records: z.array(recordMeta),
            purposeStates: z.array(
              z.object({
                purpose: z.string(),
                consent: z.string().nullable(),
                consentAt: timestamp.nullable(),
                objectedAt: timestamp.nullable(),
                restrictedAt: timestamp.nullable(),
                fulfilledAt: timestamp.nullable(),
              }),
            ),
            merges: z.array(
              z.object({
                id: z.string(),
                fromSubjectId: z.string(),
                intoSubjectId: z.string(),
                mergedAt: timestamp,
              }),
            ),
          }),
          ...authErrors,
        },
      },
    },
    async (request) => vault.get(await ctx(request), request.params.subjectId),
  );

  app.patch(
    '/v1/subjects/:subjectId',
    {
      config: { access: 'vault:write' },
      schema: {
        tags: ['vault'],
        summary:
          'Set the kind, the timestamps retention reads, or the purposes fulfilled for the subject (null clears one)',
        params: subjectParams,
        body: timestampsBody,
        response: { 200: subjectReply, ...authErrors, 410: errorReply },
      },
    },
    async (request) => vault.update(await ctx(request), request.params.subjectId, request.body),
  );

  app.post(
    '/v1/subjects/:subjectId/identities',
    {
      config: { access: 'vault:write' },
      schema: {
        tags: ['vault'],
        summary: 'Add identities to a subject',
        params: subjectParams,
        body: z.object({ identities: z.array(identitySchema).min(1).max(50) }).strict(),
        response: {
          200: z.object({ added: z.number().int() }),
          ...authErrors,
          409: errorReply,
          410: errorReply,
        },
      },
    },
    async (request) =>
      vault.addIdentities(await ctx(request), request.params.subjectId, request.body.identities),
  );

  app.post(
    '/v1/subjects/:subjectId/records',
    {
      config: { access: 'vault:write' },
      schema: {
        tags: ['vault'],
        summary: 'Store personal data by register category',
        params: subjectParams,
        body: z.object({ records: z.array(newRecord).min(1).max(1000) }).strict(),
        response: {
          201: z.object({ records: z.array(recordMeta) }),
          ...authErrors,
          410: errorReply,
        },
      },
    },
    async (request, reply) =>
      reply.status(201).send({
        records: await vault.writeRecords(
          await ctx(request),
          request.params.subjectId,
          request.body.records,
        ),
      }),
  );

  app.patch(
    '/v1/subjects/:subjectId/records/:recordId',
    {
      config: { access: 'vault:write' },
      schema: {
        tags: ['vault'],
        summary: 'Rectify a record; the earlier value is kept (encrypted) with who, when and why',
        params: recordParams,
        body: z
          .object({
            value: valueSchema,
            reason: z.string().trim().min(1).max(2000),
            source: sourceInput.optional(),
          })
          .strict(),
        response: { 200: recordMeta, ...authErrors, 410: errorReply },
      },
    },
    async (request) =>
      vault.rectify(
        await ctx(request),
        request.params.subjectId,
        request.params.recordId,
        request.body,
      ),
  );

  app.get(
    '/v1/subjects/:subjectId/data',
    {
      config: { access: 'vault:read' },
      schema: {
        tags: ['vault'],
        summary: 'Read a subject’s data for one purpose: only what that purpose may use',
        params: subjectParams,
        querystring: z
          .object({
            purpose: z
              .string()
              .min(1)
              .max(200)
              .describe('Required: there is no read without a purpose'),
          })
          .strict(),
        response: {
          200: z.object({
            subjectId: z.string(),
            purpose: z.string(),
            registerVersion: z.string().nullable(),
            identities: z.array(
              z.object({
                kind: z.string(),
                type: z.string().optional(),
                value: z.string(),
                category: z.string(),
              }),
            ),
            records: z.array(recordReply),
            withheld: z.array(categoryDecision),
          }),
          ...authErrors,
          410: errorReply,
        },
      },
    },
    async (request) =>
      vault.readForPurpose(await ctx(request), request.params.subjectId, request.query.purpose),
  );

  app.post(
    '/v1/subjects/:subjectId/erase',
    {
      config: { access: 'vault:write' },
      schema: {
        tags: ['vault'],
        summary: 'Erase a subject: destroy its data key and delete its rows',
        params: subjectParams,
        body: z
          .object({ rightsRequestId: z.string().max(200).optional() })
          .strict()
          .optional(),
        response: {
          200: z.object({
            subjectId: z.string(),
            erasedAt: timestamp,
            records: z.number().int(),
            identities: z.number().int(),
            history: z.number().int(),
          }),
          ...authErrors,
          409: errorReply,
        },
      },
    },
    async (request) =>
      vault.erase(await ctx(request), request.params.subjectId, request.body ?? {}),
  );

  app.post(
    '/v1/subjects/:subjectId/pseudonymize',
    {
      config: { access: 'vault:write' },
      schema: {
        tags: ['vault'],
        summary: 'Pseudonymise a subject: drop identities, keep what the register keeps',
        params: subjectParams,
        body: z
          .object({
            keepCategories: z.array(z.string().min(1).max(200)).max(200).optional(),
            rightsRequestId: z.string().max(200).optional(),
          })
          .strict()
          .optional(),
        response: {
          200: z.object({
            subjectId: z.string(),
            pseudonym: z.string(),
            pseudonymizedAt: timestamp,
            identities: z.number().int(),
            recordsDeleted: z.number().int(),
            retained: z.array(z.object({ category: z.string(), reason: z.string() })),
          }),
          ...authErrors,
          409: errorReply,
          410: errorReply,
        },
      },
    },
    async (request) =>
      vault.pseudonymize(await ctx(request), request.params.subjectId, request.body ?? {}),
  );

  app.post(
    '/v1/subjects/merge',
    {
      config: { access: 'vault:write' },
      schema: {
        tags: ['vault'],
        summary: 'Merge two subjects found to be one person (from is folded into into)',
        body: z
          .object({ from: subjectParams.shape.subjectId, into: subjectParams.shape.subjectId })
          .strict(),
        response: {
          200: z.object({
            mergeId: z.string(),
            from: z.string(),
            into: z.string(),
            identitiesMoved: z.number().int(),
            recordsMoved: z.number().int(),
            mergedAt: timestamp,
          }),
          ...authErrors,
          409: errorReply,
          410: errorReply,
        },
      },
    },
    async (request) => vault.merge(await ctx(request), request.body.from, request.body.into),
  );
}
