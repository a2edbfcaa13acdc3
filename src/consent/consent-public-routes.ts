import rateLimit from '@fastify/rate-limit';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { auditContextFrom } from '../audit/audit-events.js';
import { sha256 } from '../crypto/hashing.js';
import { AppError, notFound } from '../errors/errors.js';
import type { App } from '../http/app-types.js';
import { asPage } from '../http/pages.js';
import { errorReply } from '../http/schemas.js';
import { idPattern } from '../ids/ids.js';
import { bannerScript } from './banner/bundle.js';
import {
  type ConsentAction,
  cookiePurpose,
  gpcPurposes,
  optionalCookieCategories,
} from './consent-model.js';
import { consentStateReply, signedReceiptReply } from './consent-routes.js';
import type { ConsentChange, ConsentService } from './consent-service.js';
import { type SignedReceipt, verifyReceipt } from './receipts.js';

/**
 * Routes people reach without a key: the banner script and its endpoint, the
 * privacy center's consent calls, one-click unsubscribe (RFC 8058), the GPC
 * well-known file and the receipt public key. Registered in their own scope
 * so the rate limit, the form body parser and the cross-origin headers apply
 * to these routes only.
 */
export type ConsentPublicOptions = {
  consent: ConsentService;
  /** Requests per IP per minute on these routes. */
  rateLimitPerMinute?: number;
  /** The date the GPC support statement last changed (YYYY-MM-DD). */
  gpcLastUpdate?: string;
};

const tenantParams = z.object({
  tenantId: z.string().regex(idPattern('tenant'), 'must be a tenant id (ten_...)'),
});
const visitorToken = z.string().min(1).max(300).describe('The visitor token from an earlier reply');
const publicChannel = z.enum(['banner', 'privacy_center', 'form']);

const publicRecordBody = z
  .object({
    visitor: visitorToken.optional(),
    channel: publicChannel.default('banner'),
    choices: z
      .partialRecord(z.enum(optionalCookieCategories), z.boolean())
      .optional()
      .describe('Cookie categories: true to accept, false to refuse'),
    purposes: z
      .array(
        z
          .object({
            purpose: z.string().max(200),
            action: z.enum(['given', 'withdrawn', 'refused', 'objected']),
          })
          .strict(),
      )
      .max(100)
      .optional(),
    cookieListHash: z.string().max(100).optional(),
    registerVersion: z.string().max(100).nullable().optional(),
  })
  .strict();

const publicStateReply = z.object({
  visitor: z.string(),
  states: z.array(consentStateReply),
  receiptIds: z.array(z.string()),
  gpcApplied: z.boolean(),
});

/** A visitor's states, or why not (410: the visitor's subject was erased during the call). */
const visitorStateReplies = {
  200: publicStateReply,
  400: errorReply,
  404: errorReply,
  410: errorReply,
  429: errorReply,
};

const contentTag = (text: string) => sha256(text).toString('base64url').slice(0, 22);

const gpcOn = (request: FastifyRequest): boolean => request.headers['sec-gpc'] === '1';

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex"><title>${escapeHtml(title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#1b1b1f}
button{font:inherit;font-weight:600;padding:.6rem 1.2rem;border-radius:6px;border:2px solid #1d3a8a;background:#1d3a8a;color:#fff;cursor:pointer}
button:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}</style></head>
<body><main>${body}</main></body></html>`;
}

export async function registerConsentPublicRoutes(
  app: App,
  options: ConsentPublicOptions,
): Promise<void> {
  const { consent } = options;
  const tags = ['consent (public)'];

  const plugin: FastifyPluginAsync = async (plain) => {
    const scope = plain.withTypeProvider<ZodTypeProvider>();
    await scope.register(rateLimit, {
      max: options.rateLimitPerMinute ?? 300,
      timeWindow: '1 minute',
    });
    // RFC 8058: a mail client POSTs "List-Unsubscribe=One-Click" as a form.
    scope.addContentTypeParser(
      ['application/x-www-form-urlencoded', 'multipart/form-data'],
      { parseAs: 'string', bodyLimit: 16 * 1024 },
      (_request, body, done) => done(null, body),
    );
    // The banner runs on the tenant's own site: these replies are read cross-origin.
    // No cookies are used here, so a wildcard origin gives nothing away.
    scope.addHook('onRequest', async (_request, reply) => {
      reply.header('access-control-allow-origin', '*');
      reply.header('cross-origin-resource-policy', 'cross-origin');
    });

    // Preflight for the banner's JSON POSTs; only the consent paths (other domains own theirs).
    for (const path of [
      '/v1/public/tenants/:tenantId/consent',
      '/v1/public/tenants/:tenantId/consent/*',
    ]) {
      scope.options(
        path,
        { config: { access: 'public' }, schema: { hide: true } },
        async (_request, reply) =>
          reply
            .header('access-control-allow-methods', 'GET, POST, OPTIONS')
            .header('access-control-allow-headers', 'content-type, sec-gpc')
            .header('access-control-max-age', '600')
            .status(204)
            .send(),
      );
    }

    scope.get('/.well-known/gpc.json', { schema: { hide: true } }, async (_request, reply) =>
      reply
        .header('cache-control', 'public, max-age=86400')
        .send({ gpc: true, lastUpdate: options.gpcLastUpdate ?? '2026-01-01' }),
    );

    scope.get(
      '/v1/public/tenants/:tenantId/consent.js',
      {
        config: { access: 'public' },
        schema: {
          tags,
          summary: "The tenant's cookie banner script, built from its register's cookies",
          security: [],
          params: tenantParams,
        },
      },
      async (request, reply) => {
        const config = await consent.bannerConfig(request.params.tenantId);
        const script = await bannerScript(config);
        // Revalidated on every page view (a 304 when unchanged), so a new cookie
        // list reaches visitors at once and the banner asks them again.
        const etag = `"${contentTag(script)}"`;
        reply
          .type('text/javascript; charset=utf-8')
          .header('cache-control', 'no-cache')
          .header('etag', etag);
        if (request.headers['if-none-match'] === etag) return reply.status(304).send();
        return reply.send(script);
      },
    );

    scope.get(
      '/v1/public/tenants/:tenantId/consent/config',
      {
        config: { access: 'public' },
        schema: {
          tags,
          summary:
            'What the banner shows: cookie categories, their cookies and the cookie-list hash',
          security: [],
          params: tenantParams,
        },
      },
      async (request) => consent.bannerConfig(request.params.tenantId),
    );

    /** The visitor a token names; 400 when it is not one of this tenant's. */
    function visitorIdOf(tenantId: string, token: string): string {
      const visitorId = consent.readVisitor(tenantId, token);
      if (!visitorId) {
        throw new AppError('bad_request', 'The visitor token is not valid for this tenant', {
          details: [{ path: 'visitor', message: 'send the token a previous reply gave, or none' }],
        });
      }
      return visitorId;
    }

    /**
     * The visitor's route, answering in the public routes' own terms. A
     * visitor linked to a subject is checked for erasure when the call starts
     * (`visitorFrom`); an erasure that lands while the call runs makes the
     * service refuse with 410 naming its own API's field (`body.visitorId`).
     * Here the caller sent a token, `visitor`: the detail names that.
     */
    async function asVisitor<T>(
      field: 'body.visitor' | 'querystring.visitor',
      work: () => Promise<T>,
    ): Promise<T> {
      try {
        return await work();
      } catch (error) {
        if (!(error instanceof AppError) || error.code !== 'gone') throw error;
        throw new AppError('gone', 'The visitor’s subject was erased during this call', {
          details: [{ path: field, message: 'linked to a subject that was erased' }],
        });
      }
    }

    /**
     * The visitor from a token, or a new one when there is none. A visitor
     * linked to a subject that was since erased is a new visitor too: the
     * person is a stranger again, and nothing more is recorded on the erased
     * subject (nor are its states shown to whoever holds the old token).
     */
    async function visitorFrom(tenantId: string, token: string | undefined) {
      if (token === undefined) return consent.newVisitor(tenantId);
      const visitorId = visitorIdOf(tenantId, token);
      if (await consent.visitorOfErased(tenantId, visitorId)) return consent.newVisitor(tenantId);
      return { visitorId, token };
    }

    async function withGpc(
      request: FastifyRequest,
      tenantId: string,
      visitorId: string,
    ): Promise<{ receiptId: string | null; applied: boolean }> {
      if (!gpcOn(request)) return { receiptId: null, applied: false };
      const result = await consent.applyGpc({
        tenantId,
        holder: { visitorId },
        context: { ...auditContextFrom(request), actor: { type: 'subject', id: visitorId } },
      });
      return { receiptId: result.receipt?.receipt.consentReceiptID ?? null, applied: true };
    }

    scope.post(
      '/v1/public/tenants/:tenantId/consent',
      {
        config: { access: 'public' },
        schema: {
          tags,
          summary: 'Record a visitor’s choices from the banner or the privacy center',
          description:
            'Every choice is recorded in the ledger with a signed receipt. `Sec-GPC: 1` is recorded as an opt-out of the purposes the register marks (and of marketing cookies); it overrides an "accept" for those.',
          security: [],
          params: tenantParams,
          body: publicRecordBody,
          response: {
            200: publicStateReply,
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
        const { tenantId } = request.params;
        const body = request.body;
        return asVisitor('body.visitor', async () => {
          const visitor = await visitorFrom(tenantId, body.visitor);
          const context = {
            ...auditContextFrom(request),
            actor: { type: 'subject' as const, id: visitor.visitorId },
          };
          const { states: before } = await consent.currentStates(tenantId, {
            visitorId: visitor.visitorId,
          });
          const wasGiven = (purpose: string) =>
            before.some(
              (s) => s.purpose === purpose && s.medium === 'all' && s.consent === 'given',
            );
          const changes: ConsentChange[] = [];
          for (const [category, value] of Object.entries(body.choices ?? {})) {
            const purpose = cookiePurpose(category as (typeof optionalCookieCategories)[number]);
            const action: ConsentAction = value
              ? 'given'
              : wasGiven(purpose)
                ? 'withdrawn'
                : 'refused';
            changes.push({ purpose, action });
          }
          for (const p of body.purposes ?? [])
            changes.push({ purpose: p.purpose, action: p.action });
          const gpc = gpcOn(request);
          const stopped = gpc
            ? new Set(gpcPurposes((await consent.activeRegister(tenantId)) ?? null))
            : new Set<string>();
          // GPC wins over "accept all" for what it covers, as the specification asks.
          const kept = changes.filter((c) => !(c.action === 'given' && stopped.has(c.purpose)));
          const receiptIds: string[] = [];
          if (kept.length > 0) {
            const result = await consent.record({
              tenantId,
              holder: { visitorId: visitor.visitorId },
              changes: kept,
              channel: body.channel,
              context,
            });
            if (result.receipt) receiptIds.push(result.receipt.receipt.consentReceiptID);
          }
          const applied = await withGpc(request, tenantId, visitor.visitorId);
          if (applied.receiptId) receiptIds.push(applied.receiptId);
          const { states } = await consent.currentStates(tenantId, {
            visitorId: visitor.visitorId,
          });
          return { visitor: visitor.token, states, receiptIds, gpcApplied: applied.applied };
        });
      },
    );

    scope.get(
      '/v1/public/tenants/:tenantId/consent',
      {
        config: { access: 'public' },
        schema: {
          tags,
          summary: 'A visitor’s current choices (a GPC signal is recorded here too)',
          security: [],
          params: tenantParams,
          querystring: z.object({ visitor: visitorToken }),
          response: visitorStateReplies,
        },
      },
      async (request) => {
        const { tenantId } = request.params;
        return asVisitor('querystring.visitor', async () => {
          const visitor = await visitorFrom(tenantId, request.query.visitor);
          const applied = await withGpc(request, tenantId, visitor.visitorId);
          const { states } = await consent.currentStates(tenantId, {
            visitorId: visitor.visitorId,
          });
          return {
            visitor: visitor.token,
            states,
            receiptIds: applied.receiptId ? [applied.receiptId] : [],
            gpcApplied: applied.applied,
          };
        });
      },
    );

    scope.post(
      '/v1/public/tenants/:tenantId/consent/withdraw',
      {
        config: { access: 'public' },
        schema: {
          tags,
          summary: 'Withdraw every consent the visitor gave, in one call',
          security: [],
          params: tenantParams,
          body: z
            .object({ visitor: visitorToken, channel: publicChannel.default('privacy_center') })
            .strict(),
          response: visitorStateReplies,
        },
      },
      async (request) => {
        const { tenantId } = request.params;
        return asVisitor('body.visitor', async () => {
          const visitor = await visitorFrom(tenantId, request.body.visitor);
          const result = await consent.withdraw({
            tenantId,
            holder: { visitorId: visitor.visitorId },
            channel: request.body.channel,
            context: {
              ...auditContextFrom(request),
              actor: { type: 'subject', id: visitor.visitorId },
            },
          });
          return {
            visitor: visitor.token,
            states: result.states,
            receiptIds: result.receipt ? [result.receipt.receipt.consentReceiptID] : [],
            gpcApplied: false,
          };
        });
      },
    );

    scope.get(
      '/v1/public/tenants/:tenantId/consent/receipts/:receiptId',
      {
        config: { access: 'public' },
        schema: {
          tags,
          summary: 'One of the visitor’s own signed consent receipts',
          security: [],
          params: tenantParams.extend({ receiptId: z.string().max(200) }),
          querystring: z.object({ visitor: visitorToken }),
          response: { 200: signedReceiptReply, 400: errorReply, 404: errorReply, 429: errorReply },
        },
      },
      async (request) => {
        const { tenantId, receiptId } = request.params;
        const visitorId = visitorIdOf(tenantId, request.query.visitor);
        // A visitor of an erased subject sees no receipts (and no new visitor is made for a read).
        if (await consent.visitorOfErased(tenantId, visitorId)) throw notFound('Receipt');
        // Erased while this call ran: the same 404 as when it started erased.
        const found = await consent
          .receipt(tenantId, receiptId, { visitorId })
          .catch((error: unknown) => {
            throw error instanceof AppError && error.code === 'gone' ? notFound('Receipt') : error;
          });
        return { receipt: found.receipt, signature: found.signature };
      },
    );

    scope.get(
      '/v1/public/consent/receipt-key',
      {
        config: { access: 'public' },
        schema: {
          tags,
          summary: 'The public key consent receipts are signed with (Ed25519, PEM)',
          security: [],
          response: { 200: z.object({ alg: z.literal('Ed25519'), publicKeyPem: z.string() }) },
        },
      },
      async () => ({ alg: 'Ed25519' as const, publicKeyPem: consent.publicKeyPem }),
    );

    scope.post(
      '/v1/public/consent/receipts/verify',
      {
        config: { access: 'public' },
        schema: {
          tags,
          summary: 'Check a consent receipt’s signature against this installation’s key',
          security: [],
          body: z.object({
            receipt: z.looseObject({}),
            signature: z.object({ alg: z.string(), value: z.string().max(200) }),
          }),
          response: { 200: z.object({ valid: z.boolean() }), 400: errorReply, 429: errorReply },
        },
      },
      async (request) => ({
        valid: verifyReceipt(request.body as unknown as SignedReceipt, consent.publicKey),
      }),
    );

    // The token rides in the query: Fastify caps path parameters at 100 characters.
    const unsubscribeQuery = z.object({ token: z.string().min(1).max(600) });

    async function unsubscribePage(
      request: FastifyRequest,
      reply: FastifyReply,
      tenantId: string,
      token: string,
      post: boolean,
    ) {
      const claim = consent.readUnsubscribe(tenantId, token);
      asPage(reply);
      if (!claim) {
        return reply
          .status(404)
          .send(
            page(
              'Link not valid',
              '<h1>This unsubscribe link is not valid</h1><p>Copy the whole link from the message, or contact the sender.</p>',
            ),
          );
      }
      if (!post) {
        const name = escapeHtml(
          (await consent.purposeName(tenantId, claim.purpose)) ?? claim.purpose,
        );
        return reply.send(
          page(
            'Unsubscribe',
            `<h1>Unsubscribe</h1><p>Stop receiving messages for: <strong>${name}</strong>${claim.medium === 'all' ? '' : ` (${escapeHtml(claim.medium)})`}.</p>
<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form>`,
          ),
        );
      }
      const outcome = await consent.unsubscribe({
        claim,
        context: { ...auditContextFrom(request), actor: { type: 'subject', id: claim.subjectId } },
      });
      return reply.send(
        page(
          'Unsubscribed',
          `<h1 role="status">You are unsubscribed</h1><p>You will no longer receive messages for: <strong>${escapeHtml(outcome.purposeName)}</strong>.</p>`,
        ),
      );
    }

    scope.get(
      '/v1/public/tenants/:tenantId/unsubscribe',
      {
        config: { access: 'public' },
        schema: {
          tags,
          summary:
            'The unsubscribe confirmation page (changes nothing until its button is pressed)',
          security: [],
          params: tenantParams,
          querystring: unsubscribeQuery,
        },
      },
      async (request, reply) =>
        unsubscribePage(request, reply, request.params.tenantId, request.query.token, false),
    );

    scope.post(
      '/v1/public/tenants/:tenantId/unsubscribe',
      {
        config: { access: 'public' },
        schema: {
          tags,
          summary: 'RFC 8058 one-click unsubscribe: no cookie, no key; idempotent',
          security: [],
          params: tenantParams,
          querystring: unsubscribeQuery,
        },
      },
      async (request, reply) =>
        unsubscribePage(request, reply, request.params.tenantId, request.query.token, true),
    );
  };
  await app.register(plugin);
}
