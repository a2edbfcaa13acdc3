import { Readable } from 'node:stream';
import { stringify } from 'csv-stringify';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Db } from '../db/database.js';
import { AppError } from '../errors/errors.js';
import type { App } from '../http/app-types.js';
import { principalOf, TENANT_HEADER, tenantOf } from '../http/auth.js';
import { authErrors } from '../http/schemas.js';
import { auditActionSchema, auditContextFrom, INSTALLATION_CHAIN } from './audit-events.js';
import type { AuditEntryView, AuditService } from './audit-service.js';
import type { AuditFilter } from './audit-store.js';

/**
 * The chain a request reads: a tenant key reads its tenant's; an installation
 * key reads the tenant it names in Avow-Tenant, or without one the
 * installation's own chain (failed logins with no tenant, operator keys).
 */
async function chainOf(request: FastifyRequest, db: Db): Promise<string> {
  const principal = principalOf(request);
  if (principal.tenantId === null && request.headers[TENANT_HEADER] === undefined)
    return INSTALLATION_CHAIN;
  return tenantOf(request, db);
}

const isoTime = z.iso.datetime({ offset: true });

const filterQuery = z.object({
  subject: z.string().min(1).max(200).optional().describe('Only events about this subject id'),
  actor: z
    .string()
    .min(1)
    .max(200)
    .optional()
    .describe('Only events by this actor id (an API key id, operator, subject or system job)'),
  action: z
    .string()
    .max(2000)
    .optional()
    .describe('One action or several separated by commas, e.g. subject.read,record.written')
    .transform((value, ctx) => {
      if (value === undefined) return undefined;
      const names = value.split(',').map((s) => s.trim());
      const out = [];
      for (const name of names) {
        const parsed = auditActionSchema.safeParse(name);
        if (!parsed.success) {
          ctx.addIssue({
            code: 'custom',
            message: `unknown action; allowed: ${auditActionSchema.options.join(', ')}`,
          });
          return z.NEVER;
        }
        out.push(parsed.data);
      }
      return out;
    }),
  purpose: z.string().min(1).max(200).optional(),
  from: isoTime.optional().describe('Events at or after this time'),
  to: isoTime.optional().describe('Events before this time'),
});

const pageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z.string().min(1).max(100).optional().describe('nextCursor of the previous page'),
});

function toFilter(q: z.infer<typeof filterQuery>): AuditFilter {
  return {
    subjectId: q.subject,
    actorId: q.actor,
    actions: q.action,
    purpose: q.purpose,
    from: q.from ? new Date(q.from) : undefined,
    to: q.to ? new Date(q.to) : undefined,
  };
}

const entryReply = z
  .object({
    id: z.string(),
    position: z
      .number()
      .int()
      .describe('The order of events in the log (newest first sorts by it); has gaps'),
    lane: z.number().int().describe('The hash chain (lane) of the log the entry is in'),
    seq: z.number().int().describe('The entry’s sequence number within its lane'),
    at: z.string(),
    actor: z.object({ type: z.string(), id: z.string() }),
    action: z.string(),
    subjectId: z.string().nullable(),
    categories: z.array(z.string()).nullable(),
    purpose: z.string().nullable(),
    outcome: z.string(),
    requestId: z.string().nullable(),
    payload: z.record(z.string(), z.unknown()),
    ip: z.string().nullable(),
    userAgent: z.string().nullable(),
    /** Other sealed fields (identities, a request’s reason), opened for the caller. */
    personal: z.record(z.string(), z.unknown()),
    personalState: z
      .enum(['sealed', 'erased', 'none'])
      .describe('erased: the key that sealed its personal data was destroyed'),
    hash: z.string(),
  })
  .meta({ id: 'AuditEntry' });

function view(e: AuditEntryView): z.infer<typeof entryReply> {
  const { state, ip, userAgent, ...personal } = e.personal;
  return {
    id: e.id,
    position: e.position,
    lane: e.lane,
    seq: e.seq,
    at: e.at,
    actor: { type: e.actorType, id: e.actorId },
    action: e.action,
    subjectId: e.subjectId,
    categories: e.categories,
    purpose: e.purpose,
    outcome: e.outcome,
    requestId: e.requestId,
    payload: e.payload,
    ip: typeof ip === 'string' ? ip : null,
    userAgent: typeof userAgent === 'string' ? userAgent : null,
    personal,
    personalState: state,
    hash: e.hash,
  };
}

const problemReply = z.object({
  lane: z.number().int().optional(),
  seq: z.number().int().optional().describe('Sequence number within the lane'),
  position: z.number().int().optional(),
  entryId: z.string().optional(),
  checkpointId: z.string().optional(),
  reason: z.string(),
});

const verifyReply = z
  .object({
    ok: z.boolean(),
    tenantId: z.string(),
    entries: z.number().int(),
    checkpoints: z.number().int(),
    lanes: z.number().int(),
    firstPosition: z.number().int().nullable(),
    lastPosition: z.number().int().nullable(),
    firstBad: problemReply.nullable(),
    problems: z.array(problemReply),
  })
  .meta({ id: 'AuditVerification' });

const loginReply = z.object({
  id: z.string(),
  position: z.number().int(),
  at: z.string(),
  account: z.string(),
  accountType: z.string(),
  outcome: z.enum(['success', 'failure']),
  method: z.string().nullable(),
  keyPrefix: z.string().nullable(),
  reason: z.string().nullable(),
  ip: z.string().nullable(),
  userAgent: z.string().nullable(),
});

/** A cell a spreadsheet would run as a formula gets a leading quote (user agents are attacker-chosen). */
function csvSafe(value: unknown): string {
  if (value === null || value === undefined) return '';
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
}

const csvColumns = [
  'position',
  'lane',
  'seq',
  'id',
  'at',
  'actorType',
  'actorId',
  'action',
  'subjectId',
  'categories',
  'purpose',
  'outcome',
  'requestId',
  'ip',
  'userAgent',
  'payload',
  'hash',
];

export function registerAuditRoutes(app: App, deps: { audit: AuditService; db: Db }): void {
  const { audit, db } = deps;

  app.get(
    '/v1/audit',
    {
      config: { access: 'audit:read' },
      schema: {
        tags: ['audit'],
        summary: 'Search the audit log (newest first) by subject, actor, action, purpose and time',
        querystring: filterQuery.extend(pageQuery.shape),
        response: {
          200: z.object({ items: z.array(entryReply), nextCursor: z.string().nullable() }),
          ...authErrors,
        },
      },
    },
    async (request) => {
      const chain = await chainOf(request, db);
      const { items, nextCursor } = await audit.search(
        chain,
        toFilter(request.query),
        request.query,
      );
      return { items: items.map(view), nextCursor };
    },
  );

  app.get(
    '/v1/audit/verify',
    {
      config: { access: 'audit:read' },
      schema: {
        tags: ['audit'],
        summary:
          'Verify every lane’s hash chain, the signed checkpoints and the signed lane heads; names the first bad entry',
        response: { 200: verifyReply, ...authErrors },
      },
    },
    async (request) => audit.verify(await chainOf(request, db)),
  );

  app.get(
    '/v1/audit/logins',
    {
      config: { access: 'audit:read' },
      schema: {
        tags: ['audit'],
        summary: 'Login attempts (successful and failed) with time, IP and user agent, per account',
        querystring: z
          .object({
            account: z.string().min(1).max(200).optional().describe('An account (API key id)'),
            outcome: z.enum(['success', 'failure']).optional(),
          })
          .extend(pageQuery.shape),
        response: {
          200: z.object({
            items: z.array(loginReply),
            accounts: z.array(
              z.object({
                account: z.string(),
                succeeded: z.number().int(),
                failed: z.number().int(),
                lastAt: z.string(),
              }),
            ),
            nextCursor: z.string().nullable(),
          }),
          ...authErrors,
        },
      },
    },
    async (request) => {
      const chain = await chainOf(request, db);
      const result = await audit.logins(chain, request.query, request.query);
      const accounts = new Map<
        string,
        { account: string; succeeded: number; failed: number; lastAt: string }
      >();
      for (const item of result.items) {
        const entry = accounts.get(item.account) ?? {
          account: item.account,
          succeeded: 0,
          failed: 0,
          lastAt: item.at,
        };
        if (item.outcome === 'success') entry.succeeded += 1;
        else entry.failed += 1;
        if (item.at > entry.lastAt) entry.lastAt = item.at;
        accounts.set(item.account, entry);
      }
      return {
        items: result.items,
        accounts: [...accounts.values()],
        nextCursor: result.nextCursor,
      };
    },
  );

  app.get(
    '/v1/audit/export',
    {
      config: { access: 'audit:read' },
      schema: {
        tags: ['audit'],
        summary:
          'Export the log. jsonl: the whole chain with checkpoints and signed head, verifiable offline (`avow audit verify --file`); csv: filtered, readable rows',
        querystring: filterQuery.extend({ format: z.enum(['jsonl', 'csv']).default('jsonl') }),
        // Streamed (application/x-ndjson or text/csv); a stream is not serialized through a schema.
        response: { 200: z.unknown().describe('JSON Lines or CSV, streamed'), ...authErrors },
      },
    },
    async (request, reply) => {
      const chain = await chainOf(request, db);
      const { format, ...filterFields } = request.query;
      const filter = toFilter(filterFields);
      const filtered = Object.values(filter).some((v) => v !== undefined);
      if (format === 'jsonl' && filtered) {
        throw new AppError(
          'bad_request',
          'A JSON Lines export is the whole chain, so it can be verified; filter a csv export instead',
          {
            details: [{ path: 'querystring.format', message: 'use format=csv with filters' }],
          },
        );
      }
      // The export is itself an access to personal data: it goes in the log first.
      await audit.record(db, {
        ...auditContextFrom(request),
        tenantId: chain,
        action: 'audit.exported',
        outcome: 'success',
        payload: { format },
      });
      const date = new Date().toISOString().slice(0, 10);
      if (format === 'jsonl') {
        reply.header('content-type', 'application/x-ndjson; charset=utf-8');
        reply.header('content-disposition', `attachment; filename="audit-${chain}-${date}.jsonl"`);
        return reply.send(Readable.from(audit.exportJsonl(chain)));
      }
      const rows = async function* () {
        for await (const e of audit.exportRows(chain, filter)) {
          const { state: _state, ip, userAgent } = e.personal;
          yield [
            e.position,
            e.lane,
            e.seq,
            e.id,
            e.at,
            e.actorType,
            e.actorId,
            e.action,
            e.subjectId,
            e.categories?.join(' '),
            e.purpose,
            e.outcome,
            e.requestId,
            ip,
            userAgent,
            e.payload,
            e.hash,
          ].map(csvSafe);
        }
      };
      reply.header('content-type', 'text/csv; charset=utf-8');
      reply.header('content-disposition', `attachment; filename="audit-${chain}-${date}.csv"`);
      return reply.send(
        Readable.from(rows()).pipe(stringify({ header: true, columns: csvColumns })),
      );
    },
  );

  app.get(
    '/v1/audit/public-key',
    {
      config: { access: 'public' },
      schema: {
        tags: ['audit'],
        summary:
          "The installation's Ed25519 public key (PEM) that signs audit checkpoints; for offline verification",
        response: { 200: z.string() },
      },
    },
    async (_request, reply) => reply.type('application/x-pem-file').send(audit.publicKeyPem),
  );
}
