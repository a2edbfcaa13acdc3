import { z } from 'zod';
import type { Db } from '../db/database.js';
import type { App } from '../http/app-types.js';
import { tenantOf } from '../http/auth.js';
import { authErrors, errorReply } from '../http/schemas.js';
import { identitySchema, vaultContext } from '../vault/vault-routes.js';
import { decisionReasons } from './decide.js';
import type { DecisionsService } from './decisions-service.js';

const reason = z.enum(decisionReasons);
const decisionReply = z
  .object({
    subjectId: z.string(),
    purpose: z.string(),
    allowed: z.boolean(),
    reasons: z.array(reason),
    categories: z.array(
      z.object({ category: z.string(), allowed: z.boolean(), reasons: z.array(reason) }),
    ),
    legalBasis: z.string().nullable(),
    registerVersion: z.string().nullable(),
  })
  .meta({ id: 'Decision' });

const categories = z
  .array(z.string().min(1).max(200))
  .max(200)
  .optional()
  .describe('Default: every category of the purpose');

export function registerDecisionRoutes(
  app: App,
  deps: { decisions: DecisionsService; db: Db },
): void {
  const { decisions, db } = deps;

  app.post(
    '/v1/decisions',
    {
      config: { access: 'vault:read' },
      schema: {
        tags: ['decisions'],
        summary:
          'May this purpose use these categories of this subject? With reasons and the register version',
        body: z
          .object({
            subjectId: z.string().min(1).max(200),
            purpose: z.string().min(1).max(200),
            categories,
            record: z
              .boolean()
              .default(false)
              .describe('Keep the decision in the audit log (when you act on it)'),
          })
          .strict(),
        response: { 200: decisionReply, ...authErrors, 422: errorReply },
      },
    },
    async (request) =>
      decisions.decide(vaultContext(request, await tenantOf(request, db)), request.body),
  );

  app.post(
    '/v1/decisions/batch',
    {
      config: { access: 'vault:read' },
      bodyLimit: 8 * 1024 * 1024,
      schema: {
        tags: ['decisions'],
        summary: 'One purpose, many subjects (by id and/or identity): one answer each, in order',
        body: z
          .object({
            purpose: z.string().min(1).max(200),
            categories,
            subjectIds: z.array(z.string().min(1).max(200)).max(50_000).optional(),
            identities: z.array(identitySchema).max(50_000).optional(),
          })
          .strict()
          .refine((b) => (b.subjectIds?.length ?? 0) + (b.identities?.length ?? 0) > 0, {
            message: 'give subjectIds or identities',
            path: ['subjectIds'],
          }),
        response: {
          200: z.object({
            purpose: z.string(),
            registerVersion: z.string().nullable(),
            allowed: z.number().int(),
            denied: z.number().int(),
            results: z.array(
              decisionReply.extend({
                index: z.number().int(),
                identity: z.number().int().optional(),
                subjectId: z.string().nullable(),
              }),
            ),
          }),
          ...authErrors,
          422: errorReply,
        },
      },
    },
    async (request) => {
      const out = await decisions.decideBatch(
        vaultContext(request, await tenantOf(request, db)),
        request.body,
      );
      return {
        ...out,
        results: out.results.map((r) => ({
          ...r,
          subjectId: r.subjectId === '' ? null : r.subjectId,
        })),
      };
    },
  );
}
