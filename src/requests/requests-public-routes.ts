import rateLimit from '@fastify/rate-limit';
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { auditContextFrom } from '../audit/audit-events.js';
import { AppError } from '../errors/errors.js';
import type { App } from '../http/app-types.js';
import { errorReply } from '../http/schemas.js';
import { idPattern } from '../ids/ids.js';
import type { Register } from '../register/register-schema.js';
import { requestStatuses, requestTypes } from './requests-model.js';
import { controllerAnswerBody, requestFields } from './requests-routes.js';
import type { RequestsService } from './requests-service.js';

/**
 * The routes a person (or a privacy center page) calls without a key: file a
 * request, enter the code from the e-mail, ask for a new code, download the
 * archive once. And the controller's signed answer to a forwarded request.
 * In their own scope, so the rate limit applies to these routes only.
 */
export type RequestsPublicOptions = {
  requests: RequestsService;
  register: {
    getActiveRegister: (
      tenantId: string,
    ) => Promise<{ versionId: string; register: Register } | undefined>;
  };
  /** Requests per IP per minute on these routes. */
  rateLimitPerMinute?: number;
};

const tenantParams = z.object({
  tenantId: z.string().regex(idPattern('tenant'), 'must be a tenant id (ten_...)'),
});
const requestParams = tenantParams.extend({
  requestId: z.string().regex(idPattern('rightsRequest'), 'must be a request id (req_...)'),
});

const publicReply = z
  .object({
    id: z.string(),
    type: z.enum(requestTypes),
    status: z.enum(requestStatuses),
    dueDate: z.string(),
    verification: z.enum(['email_code', 'verified']),
  })
  .meta({ id: 'PublicRightsRequest' });

const complaintReply = z.object({
  type: z.literal('complaint'),
  authority: z.object({ name: z.string(), url: z.string(), country: z.string().nullable() }),
  contact: z.string().nullable(),
  note: z.string().nullable(),
});

const publicView = (r: {
  id: string;
  type: (typeof requestTypes)[number];
  status: (typeof requestStatuses)[number];
  dueDate: string;
}) => ({
  id: r.id,
  type: r.type,
  status: r.status,
  dueDate: r.dueDate,
  verification: r.status === 'identity_pending' ? ('email_code' as const) : ('verified' as const),
});

export async function registerRequestPublicRoutes(
  app: App,
  options: RequestsPublicOptions,
): Promise<void> {
  const { requests } = options;
  const tags = ['requests (public)'];

  const plugin: FastifyPluginAsync = async (plain) => {
    const scope = plain.withTypeProvider<ZodTypeProvider>();
    await scope.register(rateLimit, {
      max: options.rateLimitPerMinute ?? 60,
      timeWindow: '1 minute',
    });

    scope.post(
      '/v1/public/tenants/:tenantId/requests',
      {
        config: { access: 'public' },
        schema: {
          tags,
          security: [],
          summary: 'File a request as a person; a code is e-mailed to confirm the address',
          description: 'type "complaint" is answered at once with the supervisory authority.',
          params: tenantParams,
          body: z
            .object({ ...requestFields, type: z.enum([...requestTypes, 'complaint']) })
            .strict(),
          response: {
            200: complaintReply,
            202: publicReply,
            400: errorReply,
            404: errorReply,
            409: errorReply,
            422: errorReply,
            429: errorReply,
          },
        },
      },
      async (request, reply) => {
        const { tenantId } = request.params;
        const ctx = { ...auditContextFrom(request), tenantId };
        if (request.body.type === 'complaint') {
          const active = await options.register.getActiveRegister(tenantId);
          if (!active) throw new AppError('not_found', 'Tenant not found');
          const org = active.register.organisation;
          return reply.status(200).send({
            type: 'complaint' as const,
            authority: {
              name: org.supervisoryAuthority.name,
              url: org.supervisoryAuthority.url,
              country: org.supervisoryAuthority.country ?? null,
            },
            contact: org.dpo?.email ?? org.privacyContact.email ?? null,
            note: active.register.rights.note ?? null,
          });
        }
        const { request: created } = await requests.create(
          ctx,
          { ...request.body, type: request.body.type },
          'public',
        );
        return reply.status(202).send(publicView(created));
      },
    );

    scope.post(
      '/v1/public/tenants/:tenantId/requests/:requestId/verify',
      {
        config: { access: 'public' },
        schema: {
          tags,
          security: [],
          summary: 'Enter the code from the e-mail',
          params: requestParams,
          body: z
            .object({ code: z.string().regex(/^\d{4,12}$/, 'the digits from the e-mail') })
            .strict(),
          response: {
            200: publicReply,
            400: errorReply,
            404: errorReply,
            409: errorReply,
            410: errorReply,
            422: errorReply,
            429: errorReply,
          },
        },
      },
      async (request) => {
        const ctx = { ...auditContextFrom(request), tenantId: request.params.tenantId };
        return publicView(await requests.verify(ctx, request.params.requestId, request.body.code));
      },
    );

    scope.post(
      '/v1/public/tenants/:tenantId/requests/:requestId/code',
      {
        config: { access: 'public', rateLimit: { max: 5, timeWindow: '1 minute' } },
        schema: {
          tags,
          security: [],
          summary: 'Send a new code (the previous one stops working)',
          params: requestParams,
          response: {
            202: z.object({ sent: z.literal(true) }),
            404: errorReply,
            409: errorReply,
            429: errorReply,
          },
        },
      },
      async (request, reply) => {
        const ctx = { ...auditContextFrom(request), tenantId: request.params.tenantId };
        return reply.status(202).send(await requests.resendCode(ctx, request.params.requestId));
      },
    );

    scope.get(
      '/v1/public/tenants/:tenantId/requests/downloads/:token',
      {
        config: { access: 'public' },
        schema: {
          tags,
          security: [],
          summary:
            'Download the archive of an access or portability request (once, before the link expires)',
          params: tenantParams.extend({ token: z.string().min(20).max(200) }),
          produces: ['application/zip'],
        },
      },
      async (request, reply) => {
        const { zip, requestId } = await requests.download(
          request.params.tenantId,
          request.params.token,
        );
        return reply
          .header('content-type', 'application/zip')
          .header('content-disposition', `attachment; filename="${requestId}.zip"`)
          .header('cache-control', 'no-store')
          .send(zip);
      },
    );

    scope.get(
      '/v1/public/requests/public-key',
      {
        config: { access: 'public' },
        schema: {
          tags,
          security: [],
          summary: 'The Ed25519 key that signs request receipts and export manifests',
          response: { 200: z.object({ alg: z.literal('Ed25519'), publicKeyPem: z.string() }) },
        },
      },
      async () => ({ alg: 'Ed25519' as const, publicKeyPem: requests.publicKeyPem }),
    );

    // The controller's answer, signed per Standard Webhooks with the route's secret:
    // the signature covers the exact bytes, so this one route reads its body as text.
    const signedAnswer = controllerAnswerBody.extend({
      requestId: z.string().describe('The request answered: the one the URL names'),
    });
    const signed: FastifyPluginAsync = async (signedScope) => {
      signedScope.removeContentTypeParser('application/json');
      signedScope.addContentTypeParser(
        'application/json',
        { parseAs: 'string', bodyLimit: 64 * 1024 },
        (_req, body, done) => done(null, body),
      );
      signedScope.withTypeProvider<ZodTypeProvider>().post(
        '/v1/public/tenants/:tenantId/requests/:requestId/controller-answer',
        {
          config: { access: 'public' },
          schema: {
            tags,
            security: [],
            summary:
              'The controller answers a forwarded request (body signed per Standard Webhooks)',
            params: requestParams,
            response: {
              200: publicReply,
              400: errorReply,
              401: errorReply,
              404: errorReply,
              409: errorReply,
            },
          },
        },
        async (request) => {
          const { tenantId, requestId } = request.params;
          const headers: Record<string, string> = {};
          for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
            const value = request.headers[name];
            if (typeof value === 'string') headers[name] = value;
          }
          const raw = typeof request.body === 'string' ? request.body : '';
          const answer = signedAnswer.safeParse(
            await requests.verifyControllerAnswer(tenantId, raw, headers),
          );
          if (!answer.success) {
            throw new AppError('validation_failed', 'The answer is not valid', {
              details: answer.error.issues.map((i) => ({
                path: `body.data.${i.path.join('.')}`,
                message: i.message,
              })),
            });
          }
          // The signature covers the body, not the URL: the body names the
          // request, so an answer signed for one request cannot be sent to another.
          if (answer.data.requestId !== requestId) {
            throw new AppError('validation_failed', 'The answer is for another request', {
              details: [
                {
                  path: 'body.data.requestId',
                  message: `must be ${requestId}, the request this URL names`,
                },
              ],
            });
          }
          const { requestId: _named, ...decision } = answer.data;
          const ctx = {
            ...auditContextFrom(request),
            actor: { type: 'subject' as const, id: 'controller' },
            tenantId,
          };
          return publicView(await requests.controllerAnswer(ctx, requestId, decision));
        },
      );
    };
    await scope.register(signed);
  };
  await app.register(plugin);
}
