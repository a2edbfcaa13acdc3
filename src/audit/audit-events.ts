import type { FastifyRequest } from 'fastify';
import { z } from 'zod';

/**
 * The closed list of audit actions, `resource.verb`, each with its own payload
 * schema. `personal` names the payload fields that hold personal data: they are
 * sealed under the subject's key with the IP and user agent, never stored in
 * clear, so erasing the subject erases them from the log too.
 *
 * Payload schemas are strict: a field that is not declared here is refused
 * rather than written in clear by accident.
 */
/**
 * The installation's own chain: events that belong to no tenant (a failed login
 * with a malformed token or an unknown key, an operator key's logins, actions on
 * installation keys). Not a tenant id (those read `ten_...`), so it cannot collide.
 */
export const INSTALLATION_CHAIN = 'installation';

/** Who acts when no person or key does: bootstrap, jobs, direct service calls. */
export const systemActor = { type: 'system', id: 'avow' } as const;

const id = z.string().min(1).max(200);
/**
 * The longest free text (a reason) an audit payload holds. Routes whose text
 * goes into a payload accept no more than this (retention-routes' hold
 * reasons use it), so a valid request never fails at its audit entry.
 */
export const auditTextMax = 1000;
const text = z.string().min(1).max(auditTextMax);

/** Identities (e-mail, phone, account id...) mentioned by an event: always sealed. */
export const auditIdentities = z
  .array(z.object({ kind: z.string().min(1).max(64), value: z.string().min(1).max(2000) }).strict())
  .max(100);

const consentPayload = z
  .object({
    consentEventId: id.optional(),
    policyVersion: z.union([z.string().max(100), z.number()]).optional(),
    textHash: z.string().max(200).optional(),
    channel: z.string().max(100).optional(),
    gpc: z.boolean().optional(),
  })
  .strict();
const requestStatus = z.string().min(1).max(64);
const rightsRequestPayload = z
  .object({
    rightsRequestId: id,
    type: z.string().max(64).optional(),
    method: z.string().max(64).optional(),
    /** The state before the move, when the event is a move. */
    from: requestStatus.optional(),
    status: requestStatus.optional(),
    reason: text.optional(),
    identities: auditIdentities.optional(),
  })
  .strict();
/** A move of a rights request that has no action of its own (e.g. verified → in_progress). */
const requestTransitionPayload = z
  .object({
    rightsRequestId: id,
    type: z.string().max(64).optional(),
    from: requestStatus,
    to: requestStatus,
    reason: text.optional(),
  })
  .strict();
/** Sealed fields of the request events: the requester's identities and the operator's reason. */
const requestPersonal = ['identities', 'reason'] as const;
const holdPayload = z.object({ holdId: id, reason: text.optional() }).strict();

type ActionDefinition = { payload: z.ZodObject; personal: readonly string[] };

export const auditActions = {
  'subject.created': {
    payload: z
      .object({ identities: auditIdentities.optional(), source: z.string().max(100).optional() })
      .strict(),
    personal: ['identities'],
  },
  'subject.read': {
    payload: z
      .object({
        recordIds: z.array(id).max(1000).optional(),
        count: z.number().int().min(0).optional(),
        decisionId: id.optional(),
      })
      .strict(),
    personal: [],
  },
  'subject.merged': {
    payload: z.object({ mergedSubjectId: id, identities: auditIdentities.optional() }).strict(),
    personal: ['identities'],
  },
  'subject.exported': {
    payload: z
      .object({ rightsRequestId: id.optional(), format: z.string().max(20).optional() })
      .strict(),
    personal: [],
  },
  'subject.restricted': {
    // The ground of the restriction, or the operator's words on lifting it: about the person.
    // A lift that leaves the subject restricted names the requests still in force.
    payload: z
      .object({
        reason: text.optional(),
        lifted: z.boolean().optional(),
        stillRestrictedBy: z.array(id).max(1000).optional(),
      })
      .strict(),
    personal: ['reason'],
  },
  'subject.objected': {
    payload: z
      .object({ purposes: z.array(id).max(200).optional(), reason: text.optional() })
      .strict(),
    personal: [],
  },
  'subject.updated': {
    // Which fields changed (kind, timestamps such as relationshipEndedAt), never
    // their values: a date of leaving or a kind can say something about the person.
    payload: z
      .object({
        fields: z.array(z.string().min(1).max(64)).min(1).max(50),
        rightsRequestId: id.optional(),
      })
      .strict(),
    personal: [],
  },
  'subject.identity_added': {
    payload: z.object({ identities: auditIdentities.optional() }).strict(),
    personal: ['identities'],
  },
  'record.written': {
    payload: z
      .object({
        recordId: id.optional(),
        category: id.optional(),
        source: z.string().max(100).optional(),
        sourceReference: z.string().max(2000).optional(),
        version: z.number().int().optional(),
      })
      .strict(),
    personal: [],
  },
  'record.rectified': {
    payload: z
      .object({
        recordId: id.optional(),
        category: id.optional(),
        version: z.number().int().optional(),
        previousVersion: z.number().int().optional(),
      })
      .strict(),
    personal: [],
  },
  'record.deleted': {
    payload: z.object({ recordId: id.optional(), category: id.optional() }).strict(),
    personal: [],
  },
  'subject.erased': {
    payload: z
      .object({
        rightsRequestId: id.optional(),
        retained: z
          .array(z.object({ category: id, reason: text }).strict())
          .max(200)
          .optional(),
      })
      .strict(),
    personal: [],
  },
  'subject.pseudonymized': {
    payload: z
      .object({
        rightsRequestId: id.optional(),
        retained: z
          .array(z.object({ category: id, reason: text }).strict())
          .max(200)
          .optional(),
      })
      .strict(),
    personal: [],
  },
  'decision.made': {
    payload: z
      .object({
        decisionId: id.optional(),
        allowed: z.boolean(),
        reasons: z.array(z.string().max(500)).max(100).optional(),
      })
      .strict(),
    personal: [],
  },
  'consent.given': { payload: consentPayload, personal: [] },
  'consent.withdrawn': { payload: consentPayload, personal: [] },
  'consent.refused': { payload: consentPayload, personal: [] },
  'consent.expired': { payload: consentPayload, personal: [] },
  // A request's reason is an operator's (or the controller's) free text about
  // the person ("rejected: John's ID card photo was blurry"): sealed with the
  // identities, so erasing the subject erases it from the log too.
  'request.created': { payload: rightsRequestPayload, personal: requestPersonal },
  'request.verified': { payload: rightsRequestPayload, personal: requestPersonal },
  'request.extended': { payload: rightsRequestPayload, personal: requestPersonal },
  'request.completed': { payload: rightsRequestPayload, personal: requestPersonal },
  'request.rejected': { payload: rightsRequestPayload, personal: requestPersonal },
  'request.transitioned': { payload: requestTransitionPayload, personal: ['reason'] },
  'request.forwarded': {
    payload: z
      .object({
        rightsRequestId: id,
        type: z.string().max(64).optional(),
        from: requestStatus.optional(),
        /** The controller's organisation name, as the tenant names it. */
        controller: z.string().max(200).optional(),
        webhook: z.boolean().optional(),
      })
      .strict(),
    personal: [],
  },
  'request.expired': {
    payload: z
      .object({
        rightsRequestId: id,
        type: z.string().max(64).optional(),
        from: requestStatus.optional(),
        // Avow's own words ("not verified by <date>"), never an operator's: in clear.
        reason: text.optional(),
      })
      .strict(),
    personal: [],
  },
  'login.succeeded': {
    payload: z
      .object({
        method: z.enum(['api_key', 'password', 'session', 'one_time_code']),
        keyPrefix: z.string().max(100).optional(),
      })
      .strict(),
    personal: [],
  },
  'login.failed': {
    payload: z
      .object({
        method: z.enum(['api_key', 'password', 'session', 'one_time_code']),
        keyPrefix: z.string().max(100).optional(),
        reason: z.enum([
          'malformed_token',
          'unknown_key',
          'revoked_or_wrong_secret',
          'wrong_password',
          'expired',
          'other',
        ]),
      })
      .strict(),
    personal: [],
  },
  'key.created': {
    payload: z
      .object({
        keyId: id,
        name: z.string().max(200),
        scopes: z.array(z.string().max(64)).max(50),
        keyTenantId: id.nullable().optional(),
      })
      .strict(),
    personal: [],
  },
  'key.revoked': {
    payload: z.object({ keyId: id, keyTenantId: id.nullable().optional() }).strict(),
    personal: [],
  },
  'tenant.created': {
    payload: z.object({ role: z.string().max(20), region: z.string().max(100) }).strict(),
    personal: [],
  },
  'tenant.updated': {
    payload: z.object({ fields: z.array(z.string().max(64)).max(50) }).strict(),
    personal: [],
  },
  'register.activated': {
    payload: z
      .object({
        version: z.union([z.number().int(), z.string().max(100)]),
        registerId: id.optional(),
        material: z.boolean().optional(),
        reasons: z.array(z.string().max(500)).max(100).optional(),
      })
      .strict(),
    personal: [],
  },
  'retention.swept': {
    payload: z
      .object({
        rule: id.optional(),
        removed: z.number().int().min(0),
        dryRun: z.boolean().optional(),
        runId: id.optional(),
        /** Records removed (or pseudonymised) per data category. */
        categories: z.record(z.string().min(1).max(200), z.number().int().min(0)).optional(),
        subjectsErased: z.number().int().min(0).optional(),
      })
      .strict(),
    personal: [],
  },
  'legal_hold.created': { payload: holdPayload, personal: [] },
  'legal_hold.released': { payload: holdPayload, personal: [] },
  'audit.pruned': {
    payload: z
      .object({
        before: z.string().max(40),
        removed: z.number().int().min(0),
        /** The signed prune checkpoint that anchors every lane's new start. */
        checkpointId: z.string().max(100),
        /** The last seq removed from each lane that lost entries. */
        through: z
          .array(z.object({ lane: z.number().int().min(0), seq: z.number().int().min(1) }).strict())
          .max(256),
      })
      .strict(),
    personal: [],
  },
  'audit.prune_refused': {
    payload: z
      .object({
        before: z.string().max(40),
        /** The first problem the verification found, as it describes it (ids, lanes, seqs; no personal data). */
        reason: text,
        lane: z.number().int().min(0).optional(),
        seq: z.number().int().min(0).optional(),
      })
      .strict(),
    personal: [],
  },
  'audit.prune_held': {
    payload: z
      .object({
        before: z.string().max(40),
        /** The active legal holds that kept the log whole (the first 100 by id); never their reasons. */
        holds: z.array(id).min(1).max(100),
        count: z.number().int().min(1),
      })
      .strict(),
    personal: [],
  },
  'audit.exported': {
    payload: z.object({ format: z.enum(['jsonl', 'csv']) }).strict(),
    personal: [],
  },
} as const satisfies Record<string, ActionDefinition>;

export type AuditAction = keyof typeof auditActions;
export const auditActionNames = Object.keys(auditActions) as [AuditAction, ...AuditAction[]];
export const auditActionSchema = z.enum(auditActionNames);

export const actorTypes = ['api_key', 'operator', 'subject', 'system'] as const;
export type AuditActorType = (typeof actorTypes)[number];
export type AuditActor = { type: AuditActorType; id: string };

export const outcomes = ['success', 'denied', 'failure'] as const;
export type AuditOutcome = (typeof outcomes)[number];

type BaseInput = {
  tenantId: string;
  actor: AuditActor;
  subjectId?: string | undefined;
  categories?: string[] | undefined;
  purpose?: string | undefined;
  outcome: AuditOutcome;
  /** Personal data: sealed under the subject's (or the actor's) key. */
  ip?: string | undefined;
  /** Personal data: sealed under the subject's (or the actor's) key. */
  userAgent?: string | undefined;
  requestId?: string | undefined;
};

/** What a caller hands to `audit.record(db, event)`; the payload type follows the action. */
export type AuditEventInput = {
  [A in AuditAction]: BaseInput & {
    action: A;
    payload?: z.input<(typeof auditActions)[A]['payload']>;
  };
}[AuditAction];

/** Checks the parts that are the same for every action. */
export const auditBaseSchema = z.object({
  tenantId: z.string().min(1).max(100),
  actor: z.object({ type: z.enum(actorTypes), id: z.string().min(1).max(200) }),
  action: auditActionSchema,
  subjectId: z.string().min(1).max(200).optional(),
  categories: z.array(z.string().min(1).max(200)).max(200).optional(),
  purpose: z.string().min(1).max(200).optional(),
  outcome: z.enum(outcomes),
  ip: z.string().max(100).optional(),
  userAgent: z.string().max(1000).optional(),
  requestId: z.string().max(200).optional(),
  payload: z.record(z.string(), z.unknown()).optional(),
});

/** Splits a payload into what is stored in clear and what is sealed. */
export function splitPayload(
  action: AuditAction,
  payload: Record<string, unknown> | undefined,
): { plain: Record<string, unknown>; personal: Record<string, unknown> } {
  const definition: ActionDefinition = auditActions[action];
  const parsed = definition.payload.parse(payload ?? {}) as Record<string, unknown>;
  const plain: Record<string, unknown> = {};
  const personal: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (value === undefined) continue;
    if (definition.personal.includes(key)) personal[key] = value;
    else plain[key] = value;
  }
  return { plain, personal };
}

export type AuditContext = Pick<BaseInput, 'actor' | 'ip' | 'userAgent' | 'requestId'>;

export const systemContext: AuditContext = { actor: systemActor };

/**
 * Who did it and from where, taken from an authenticated request: the API key
 * (an installation key acts as an operator), the client IP (as Fastify sees it,
 * behind a trusted proxy when configured), the user agent and the request id.
 */
export function auditContextFrom(request: FastifyRequest): AuditContext {
  const principal = request.principal;
  const agent = request.headers['user-agent'];
  const actor: AuditActor = principal
    ? { type: principal.tenantId === null ? 'operator' : 'api_key', id: principal.keyId }
    : { type: 'subject', id: 'anonymous' };
  return {
    actor,
    ip: request.ip,
    userAgent: typeof agent === 'string' ? agent.slice(0, 1000) : undefined,
    requestId: String(request.id),
  };
}
