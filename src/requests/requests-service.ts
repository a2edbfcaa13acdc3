import type { Logger } from 'pino';
import { Webhook } from 'standardwebhooks';
import { type AuditContext, type AuditEventInput, auditTextMax } from '../audit/audit-events.js';
import { type BlindIndex, normaliseIdentity } from '../crypto/blind-index.js';
import { randomToken } from '../crypto/hashing.js';
import { type Keyring, open, seal } from '../crypto/keyring.js';
import {
  newOneTimeCode,
  newWebhookSecret,
  oneTimeCodeDigest,
  oneTimeCodeMatches,
  tokenDigest,
} from '../crypto/one-time-code.js';
import type { Db } from '../db/database.js';
import type { DecisionsService } from '../decisions/decisions-service.js';
import type { PolicySource } from '../decisions/policy-source.js';
import { AppError, type ErrorDetail, notFound } from '../errors/errors.js';
import { idPattern, newId } from '../ids/ids.js';
import type { Mailer } from '../mail/mailer.js';
import type { Register } from '../register/register-schema.js';
import type { Tenant } from '../tenancy/tenants-store.js';
import type { VaultContext } from '../vault/vault-service.js';
import { findCurrentSubject, listMergedSubjectIds } from '../vault/vault-store.js';
import {
  type Fulfilment,
  type FulfilmentDeps,
  type FulfilOptions,
  fulfilType,
} from './requests-fulfil.js';
import { mailTexts } from './requests-mail.js';
import {
  checkTransition,
  computeDueAt,
  dueDateOf,
  finalStatuses,
  isLonger,
  maxExtension,
  openStatuses,
  pausedStatuses,
  type RequestStatus,
  type RequestType,
  restrictionGroundList,
  rightOfType,
  wholeDays,
} from './requests-model.js';
import { type SignedRequestReceipt, signRequestReceipt } from './requests-receipt.js';
import {
  appendTimeline,
  findConfirmedDuplicate,
  findControllerRoute,
  findOpenDuplicate,
  findRequest,
  insertDownload,
  insertRequest,
  listNeedingReminder,
  listRequests,
  listRestrictionsInForce,
  listTimeline,
  listUnconfirmedPastDue,
  type RequestChanges,
  type RequestFilter,
  type RestrictionInForce,
  type StoredRequest,
  type TimelineEntry,
  takeDownload,
  updateRequest,
  upsertControllerRoute,
} from './requests-store.js';

/** What the requester told us, sealed at rest. */
export type Requester = {
  email: string;
  name?: string | undefined;
  /** Rectification: what is wrong and what it should say. */
  corrections?: { category: string; value: string; note?: string | undefined }[] | undefined;
  /** Free text the person wrote. */
  message?: string | undefined;
};

export type NewRequest = {
  type: RequestType;
  email: string;
  name?: string | undefined;
  subjectId?: string | undefined;
  purposes?: string[] | undefined;
  ground?: string | undefined;
  format?: 'json' | 'csv' | undefined;
  corrections?: Requester['corrections'];
  message?: string | undefined;
};

export type RequestView = ReturnType<typeof toView>;

/** A verification code lives this long and allows this many wrong tries. */
export const CODE_TTL_MS = 30 * 60 * 1000;
export const CODE_ATTEMPTS = 5;
export const CODES_PER_REQUEST = 5;
/** A download link works once, within this time. */
export const DOWNLOAD_TTL_MS = 7 * 24 * 60 * 60 * 1000;
/** The states a request can be fulfilled from (forwarded: by the controller's answer alone). */
const fulfillable: RequestStatus[] = ['verified', 'in_progress', 'forwarded'];
/** Operators are reminded this long before a request is due. */
export const REMIND_BEFORE_MS = 3 * 24 * 60 * 60 * 1000;

type Actor = AuditContext;

/**
 * The audit action of a move: the exact one for each state (a move with no
 * action of its own, such as verified → in_progress, is `request.transitioned`
 * with from and to). Completion, full or partial, is `request.completed` with
 * the status.
 */
type RequestAuditAction =
  | 'request.created'
  | 'request.verified'
  | 'request.forwarded'
  | 'request.completed'
  | 'request.rejected'
  | 'request.expired'
  | 'request.transitioned';

const auditActionOf = (to: RequestStatus): RequestAuditAction => {
  switch (to) {
    case 'received':
      return 'request.created';
    case 'verified':
      return 'request.verified';
    case 'forwarded':
      return 'request.forwarded';
    case 'completed':
    case 'partially_completed':
      return 'request.completed';
    case 'rejected':
      return 'request.rejected';
    case 'expired':
      return 'request.expired';
    case 'identity_pending':
    case 'in_progress':
    case 'awaiting_requester':
      return 'request.transitioned';
  }
};

const actorLabel = (ctx: Actor): string => `${ctx.actor.type}:${ctx.actor.id}`;

function toView(
  request: StoredRequest,
  requester: Requester | null,
  timeline: TimelineEntry[] | null,
  at: Date,
) {
  const open = openStatuses.includes(request.status);
  return {
    id: request.id,
    tenantId: request.tenantId,
    type: request.type,
    status: request.status,
    channel: request.channel,
    verificationMethod: request.verificationMethod,
    subjectId: request.subjectId,
    requester: requester ? { email: requester.email, name: requester.name ?? null } : null,
    details: request.details,
    registerVersion: request.registerVersion,
    deadline: request.deadline,
    receivedAt: request.receivedAt,
    verifiedAt: request.verifiedAt,
    dueAt: request.dueAt,
    dueDate: dueDateOf(request.dueAt),
    // A paused request's clock is stopped: its due date moves when work resumes.
    overdue: open && request.pausedAt === null && request.dueAt < at,
    paused: request.pausedAt !== null,
    extension: request.extension,
    extensionReason: request.extensionReason,
    completedAt: request.completedAt,
    statusReason: request.statusReason,
    outcome: request.outcome,
    receipt: request.receipt as SignedRequestReceipt | null,
    forwardedAt: request.forwardedAt,
    controllerAnswer: request.controllerAnswer,
    timeline,
  };
}

export type RequestsServiceDeps = FulfilmentDeps & {
  decisions: Pick<DecisionsService, 'lockForRestriction' | 'setRestriction'>;
  db: Db;
  keyring: Pick<Keyring, 'derive' | 'sign' | 'publicKeyPem'>;
  blindIndex: Pick<BlindIndex, 'compute'>;
  mailer: Pick<Mailer, 'send'>;
  audit: { record: (db: Db, event: AuditEventInput) => Promise<unknown> };
  register: {
    getActiveRegister: (
      tenantId: string,
    ) => Promise<{ versionId: string; register: Register } | undefined>;
  };
  policies: PolicySource;
  tenants: { get: (id: string) => Promise<Tenant> };
  jobs: {
    send: (
      name: string,
      payload: { tenantId: string; requestId: string },
      options?: { db?: Db },
    ) => Promise<string | null>;
  };
  logger: Logger;
  publicUrl: string;
  now?: () => Date;
};

export const WEBHOOK_JOB = 'requests.deliver-webhook';

export function createRequestsService(deps: RequestsServiceDeps) {
  const { db, keyring, audit, mailer, logger } = deps;
  const now = deps.now ?? (() => new Date());
  const sealKey = keyring.derive('avow/v1/rights-requests');
  const codeKey = keyring.derive('avow/v1/rights-request-codes');
  const aad = (tenantId: string, id: string) => `avow/requests/${tenantId}/${id}`;
  const sealRequester = (tenantId: string, id: string, requester: Requester) =>
    seal(sealKey, JSON.stringify(requester), aad(tenantId, id));
  const openRequester = (request: StoredRequest): Requester =>
    JSON.parse(
      open(sealKey, request.sealed, aad(request.tenantId, request.id)).toString('utf8'),
    ) as Requester;
  const codeContext = (request: Pick<StoredRequest, 'tenantId' | 'id'>) =>
    `${request.tenantId}/${request.id}`;
  const downloadKey = keyring.derive('avow/v1/rights-request-downloads');
  const routeKey = keyring.derive('avow/v1/controller-webhook-secrets');

  async function activeRegister(
    tenantId: string,
  ): Promise<{ versionId: string; register: Register }> {
    const active = await deps.register.getActiveRegister(tenantId);
    if (!active) {
      throw new AppError(
        'unprocessable',
        'This tenant has no active register; requests follow its deadlines and rights',
        {
          details: [{ path: 'tenantId', message: 'activate a register first (PUT /v1/register)' }],
        },
      );
    }
    return active;
  }

  function checkInput(register: Register, input: NewRequest): void {
    const details: ErrorDetail[] = [];
    const right = rightOfType[input.type];
    if (!register.rights.available.includes(right as Register['rights']['available'][number])) {
      details.push({
        path: 'body.type',
        message: `this organisation's register offers: ${register.rights.available.join(', ')}`,
      });
    }
    const purposeKeys = register.purposes.map((p) => p.key);
    (input.purposes ?? []).forEach((p, i) => {
      if (!purposeKeys.includes(p))
        details.push({
          path: `body.purposes.${i}`,
          message: `not a purpose of the register; allowed: ${purposeKeys.join(', ')}`,
        });
    });
    if (input.type === 'restriction') {
      const grounds =
        register.rights.restrictionGrounds.length > 0
          ? register.rights.restrictionGrounds
          : [...restrictionGroundList];
      if (!input.ground || !grounds.includes(input.ground as (typeof grounds)[number])) {
        details.push({
          path: 'body.ground',
          message: `a restriction names its ground; allowed: ${grounds.join(', ')}`,
        });
      }
    }
    if (input.type === 'rectification' && (!input.corrections || input.corrections.length === 0)) {
      details.push({
        path: 'body.corrections',
        message: 'say what is wrong: at least one {category, value}',
      });
    }
    const categoryKeys = register.categories.map((c) => c.key);
    (input.corrections ?? []).forEach((c, i) => {
      if (!categoryKeys.includes(c.category))
        details.push({
          path: `body.corrections.${i}.category`,
          message: `allowed: ${categoryKeys.join(', ')}`,
        });
    });
    if (details.length > 0)
      throw new AppError(
        'validation_failed',
        'The request does not fit this organisation’s register',
        { details },
      );
  }

  /** The audit entry of a move from `from` to `to` (`from` is null at intake). */
  async function record(
    tx: Db,
    ctx: Actor,
    request: StoredRequest,
    from: RequestStatus | null,
    to: RequestStatus,
    extra: { reason?: string; method?: string; controller?: string; webhook?: boolean } = {},
  ) {
    const base = {
      tenantId: request.tenantId,
      actor: ctx.actor,
      ip: ctx.ip,
      userAgent: ctx.userAgent,
      requestId: ctx.requestId,
      subjectId: request.subjectId ?? undefined,
      outcome: 'success' as const,
    };
    const reason = extra.reason ? extra.reason.slice(0, auditTextMax) : undefined;
    const common = {
      rightsRequestId: request.id,
      type: request.type,
      ...(from ? { from } : {}),
      ...(reason ? { reason } : {}),
    };
    const action = auditActionOf(to);
    switch (action) {
      case 'request.transitioned':
        if (!from) throw new Error(`a move to ${to} needs the state it leaves`);
        await audit.record(tx, { ...base, action, payload: { ...common, from, to } });
        return;
      case 'request.forwarded':
        await audit.record(tx, {
          ...base,
          action,
          payload: {
            rightsRequestId: request.id,
            type: request.type,
            ...(from ? { from } : {}),
            ...(extra.controller ? { controller: extra.controller.slice(0, 200) } : {}),
            ...(extra.webhook !== undefined ? { webhook: extra.webhook } : {}),
          },
        });
        return;
      case 'request.expired':
        await audit.record(tx, { ...base, action, payload: common });
        return;
      default:
        await audit.record(tx, {
          ...base,
          action,
          payload: {
            ...common,
            status: to,
            ...(extra.method ? { method: extra.method } : {}),
          },
        });
    }
  }

  /**
   * Moves a request to another state inside `tx`: checks the state machine,
   * keeps the clock (paused while waiting for the requester), and writes the
   * timeline entry and the audit entry in the same transaction.
   */
  async function move(
    tx: Db,
    ctx: Actor,
    request: StoredRequest,
    to: RequestStatus,
    options: {
      reason?: string;
      method?: string;
      message?: string;
      changes?: RequestChanges;
      controller?: string;
      webhook?: boolean;
    } = {},
  ): Promise<StoredRequest> {
    checkTransition(request.status, to);
    const at = now();
    const changes: RequestChanges = { status: to, ...options.changes };
    let pausedDays = request.pausedDays;
    if (request.pausedAt && !pausedStatuses.includes(to)) {
      pausedDays += wholeDays(request.pausedAt, at);
      changes.pausedAt = null;
      changes.pausedDays = pausedDays;
      changes.dueAt = computeDueAt({
        receivedAt: request.receivedAt,
        deadline: request.deadline,
        pausedDays,
        extension: request.extension,
      });
    } else if (!request.pausedAt && pausedStatuses.includes(to)) {
      changes.pausedAt = at;
    }
    if (to === 'verified') {
      changes.verifiedAt = at;
      changes.verificationMethod = options.method ?? request.verificationMethod;
      changes.codeHash = null;
      changes.codeExpiresAt = null;
    }
    if (finalStatuses.includes(to)) changes.completedAt = at;
    if (
      options.reason !== undefined &&
      (to === 'rejected' ||
        to === 'expired' ||
        to === 'awaiting_requester' ||
        to === 'partially_completed')
    ) {
      changes.statusReason = options.reason;
    }
    const updated = await updateRequest(tx, request.tenantId, request.id, changes, at);
    await appendTimeline(tx, request.tenantId, request.id, {
      at,
      kind: 'status',
      fromStatus: request.status,
      toStatus: to,
      actor: actorLabel(ctx),
      message:
        options.message ??
        (options.reason
          ? `${request.status} → ${to}: ${options.reason}`
          : `${request.status} → ${to}`),
    });
    await record(tx, ctx, updated, request.status, to, options);
    return updated;
  }

  async function note(
    tx: Db,
    ctx: Actor,
    request: StoredRequest,
    kind: TimelineEntry['kind'],
    message: string,
  ): Promise<void> {
    await appendTimeline(tx, request.tenantId, request.id, {
      at: now(),
      kind,
      fromStatus: null,
      toStatus: null,
      actor: actorLabel(ctx),
      message,
    });
  }

  async function mail(
    request: StoredRequest,
    to: string,
    subject: string,
    text: string,
    what: string,
  ): Promise<void> {
    try {
      await mailer.send({ to, subject, text });
      await note(
        db,
        { actor: { type: 'system', id: 'avow' } },
        request,
        'mail',
        `${what} e-mailed`,
      );
    } catch (error) {
      // The change is committed; a failed mail is visible in the timeline and the log, and the code can be re-sent.
      logger.warn(
        { err: error, rightsRequestId: request.id },
        'a rights request e-mail could not be sent',
      );
      await note(
        db,
        { actor: { type: 'system', id: 'avow' } },
        request,
        'mail',
        `${what} could not be e-mailed`,
      );
    }
  }

  async function context(tenantId: string) {
    const [active, tenant] = await Promise.all([
      activeRegister(tenantId),
      deps.tenants.get(tenantId),
    ]);
    return {
      register: active.register,
      versionId: active.versionId,
      tenant,
      texts: mailTexts(active.register, tenant),
    };
  }

  async function identityIndex(tenantId: string, email: string): Promise<Buffer> {
    const normalised = normaliseIdentity({ kind: 'email', value: email });
    if (!normalised.ok)
      throw new AppError('validation_failed', 'The e-mail address is not valid', {
        details: [{ path: 'body.email', message: normalised.message }],
      });
    return deps.blindIndex.compute(tenantId, normalised.identity);
  }

  function issueCode(request: Pick<StoredRequest, 'tenantId' | 'id'>): {
    code: string;
    changes: RequestChanges;
  } {
    const code = newOneTimeCode();
    return {
      code,
      changes: {
        codeHash: oneTimeCodeDigest(codeKey, codeContext(request), code),
        codeExpiresAt: new Date(now().getTime() + CODE_TTL_MS),
        codeAttempts: 0,
      },
    };
  }

  /**
   * A new request. From the public endpoint it waits for the requester to
   * prove the e-mail address is theirs; through the API the tenant's
   * authenticated call is the verification.
   */
  async function create(
    ctx: VaultContext,
    input: NewRequest,
    channel: 'public' | 'api',
  ): Promise<{ request: RequestView }> {
    const { register, versionId, tenant, texts } = await context(ctx.tenantId);
    checkInput(register, input);
    const index = await identityIndex(ctx.tenantId, input.email);
    const id = newId('rightsRequest');
    const at = now();
    const requester: Requester = {
      email: input.email,
      name: input.name,
      corrections: input.corrections,
      message: input.message,
    };
    const details: Record<string, unknown> = {};
    if (input.purposes) details.purposes = input.purposes;
    if (input.ground) details.ground = input.ground;
    if (input.format) details.format = input.format;
    if (input.corrections)
      details.corrections = input.corrections.map((c) => ({ category: c.category }));
    let code: string | undefined;
    const created = await db.transaction().execute(async (tx) => {
      // One open request per identity and type. Through the API a second is
      // refused, naming the first. A public filing is not checked here: its
      // answer would tell anyone whether an address has a request open, and a
      // stranger's unconfirmed request would lock the person out of their own.
      // Duplicates are caught when the code is entered (see verify).
      const duplicate =
        channel === 'api'
          ? await findOpenDuplicate(tx, ctx.tenantId, index, input.type)
          : undefined;
      if (duplicate) {
        throw new AppError(
          'conflict',
          'An open request of this type already exists for this e-mail address',
          { details: [{ path: 'body.type', message: `open request: ${duplicate.id}` }] },
        );
      }
      let request = await insertRequest(tx, {
        tenantId: ctx.tenantId,
        id,
        type: input.type,
        status: 'received',
        channel,
        verificationMethod: null,
        subjectId: input.subjectId ?? null,
        identityIndex: index,
        sealed: sealRequester(ctx.tenantId, id, requester),
        details,
        registerVersion: versionId,
        deadline: register.rights.deadline,
        receivedAt: at,
        verifiedAt: null,
        dueAt: computeDueAt({ receivedAt: at, deadline: register.rights.deadline }),
        pausedAt: null,
        extension: null,
        extensionReason: null,
        extendedAt: null,
        completedAt: null,
        statusReason: null,
        outcome: null,
        receipt: null,
        remindedAt: null,
        forwardedAt: null,
        controllerAnswer: null,
        codeHash: null,
        codeExpiresAt: null,
      });
      await appendTimeline(tx, ctx.tenantId, id, {
        at,
        kind: 'status',
        fromStatus: null,
        toStatus: 'received',
        actor: actorLabel(ctx),
        message: `received through the ${channel === 'api' ? 'API' : 'public endpoint'}`,
      });
      await record(tx, ctx, request, null, 'received');
      if (channel === 'api') {
        request = await move(tx, ctx, request, 'verified', {
          method: 'authenticated_session',
          message: 'identity verified: an authenticated call of the tenant',
        });
        request = await afterVerified(tx, ctx, request, tenant);
      } else {
        const issued = issueCode(request);
        code = issued.code;
        request = await move(tx, ctx, request, 'identity_pending', {
          changes: issued.changes,
          message: 'waiting for the requester to enter the code sent by e-mail',
        });
      }
      return request;
    });
    await mail(
      created,
      input.email,
      texts.acknowledgement.subject(created),
      texts.acknowledgement.text(created, code),
      'acknowledgement',
    );
    if (created.status === 'forwarded') await notifyForwarded(created, tenant);
    return { request: toView(created, null, null, now()) };
  }

  async function findOrThrow(
    tx: Db,
    tenantId: string,
    id: string,
    forUpdate = false,
  ): Promise<StoredRequest> {
    if (!idPattern('rightsRequest').test(id)) throw notFound('Request');
    const request = await findRequest(tx, tenantId, id, { forUpdate });
    if (!request) throw notFound('Request');
    return request;
  }

  /** A processor's verified request goes to the controller: it decides. */
  async function afterVerified(
    tx: Db,
    ctx: Actor,
    request: StoredRequest,
    tenant: Tenant,
  ): Promise<StoredRequest> {
    if (tenant.role !== 'processor') return request;
    const route = await findControllerRoute(tx, tenant.id);
    const forwarded = await move(tx, ctx, request, 'forwarded', {
      changes: { forwardedAt: now() },
      message:
        `forwarded to the controller ${tenant.controller?.name ?? ''}: this tenant processes the data on its behalf`.trim(),
      ...(tenant.controller?.name ? { controller: tenant.controller.name } : {}),
      webhook: Boolean(route?.webhookUrl),
    });
    if (route?.webhookUrl)
      await deps.jobs.send(WEBHOOK_JOB, { tenantId: tenant.id, requestId: request.id }, { db: tx });
    return forwarded;
  }

  async function notifyForwarded(request: StoredRequest, tenant: Tenant): Promise<void> {
    const route = await findControllerRoute(db, tenant.id);
    const email = route?.email ?? tenant.controller?.email;
    const requester = openRequester(request);
    const { texts } = await context(request.tenantId);
    if (email) {
      await mail(
        request,
        email,
        texts.controller.subject(request),
        texts.controller.text(request, requester, answerUrl(request)),
        'request forwarded to the controller',
      );
    }
    await mail(
      request,
      requester.email,
      texts.forwardedToRequester.subject(request),
      texts.forwardedToRequester.text(request),
      'notice of forwarding',
    );
  }

  const answerUrl = (request: StoredRequest) =>
    `${deps.publicUrl}/v1/public/tenants/${request.tenantId}/requests/${request.id}/controller-answer`;

  /** The requester enters the code from the e-mail. */
  async function verify(ctx: VaultContext, id: string, code: string): Promise<RequestView> {
    const { register, tenant, texts } = await context(ctx.tenantId);
    const outcome = await db.transaction().execute(async (tx) => {
      const request = await findOrThrow(tx, ctx.tenantId, id, true);
      if (request.status !== 'identity_pending') {
        checkTransition(request.status, 'verified');
      }
      if (!request.codeHash || !request.codeExpiresAt) {
        throw new AppError('gone', 'No code is waiting for this request; ask for a new one', {
          details: [{ path: 'body.code', message: 'request a new code' }],
        });
      }
      if (request.codeExpiresAt <= now()) {
        throw new AppError('gone', 'The code has expired; ask for a new one', {
          details: [{ path: 'body.code', message: 'expired' }],
        });
      }
      if (!oneTimeCodeMatches(codeKey, codeContext(request), code, request.codeHash)) {
        const attempts = request.codeAttempts + 1;
        const left = CODE_ATTEMPTS - attempts;
        // Used up: the code is dropped, so guessing cannot go on.
        await updateRequest(
          tx,
          request.tenantId,
          request.id,
          left <= 0
            ? { codeAttempts: attempts, codeHash: null, codeExpiresAt: null }
            : { codeAttempts: attempts },
          now(),
        );
        await note(
          tx,
          ctx,
          request,
          'step',
          left <= 0
            ? 'a wrong code was entered; no tries left, the code is void'
            : 'a wrong code was entered',
        );
        return { wrong: true as const, left: Math.max(0, left) };
      }
      // The address is the requester's: now they may learn that a confirmed
      // request of this type is already open for it, and this one closes.
      const confirmed = await findConfirmedDuplicate(tx, request);
      if (confirmed) {
        const closed = await move(tx, ctx, request, 'rejected', {
          reason: `a request of this type for this e-mail address is already open (${confirmed.id}); it goes on`,
          changes: { codeHash: null, codeExpiresAt: null },
        });
        return { wrong: false as const, request: closed };
      }
      if (!register.rights.verification.includes('email_code')) {
        // The register asks for another method (e.g. identifying information): the e-mail is confirmed, an operator verifies.
        // The requester has done their part: the clock runs again while an operator verifies.
        const at = now();
        const pausedDays =
          request.pausedDays + (request.pausedAt ? wholeDays(request.pausedAt, at) : 0);
        const confirmed = await updateRequest(
          tx,
          request.tenantId,
          request.id,
          {
            codeHash: null,
            codeExpiresAt: null,
            details: { ...request.details, emailConfirmed: true },
            pausedAt: null,
            pausedDays,
            dueAt: computeDueAt({
              receivedAt: request.receivedAt,
              deadline: request.deadline,
              pausedDays,
              extension: request.extension,
            }),
          },
          at,
        );
        await note(
          tx,
          ctx,
          confirmed,
          'step',
          `e-mail address confirmed; identity to be verified by ${register.rights.verification.join(' or ')}`,
        );
        return { wrong: false as const, request: confirmed };
      }
      let verified = await move(tx, ctx, request, 'verified', {
        method: 'email_code',
        message: 'identity verified: the requester entered the code sent by e-mail',
      });
      verified = await afterVerified(tx, ctx, verified, tenant);
      return { wrong: false as const, request: verified };
    });
    if (outcome.wrong) {
      throw new AppError('unprocessable', 'The code is not correct', {
        details: [
          {
            path: 'body.code',
            message:
              outcome.left > 0 ? `${outcome.left} tries left` : 'no tries left: ask for a new code',
            triesLeft: outcome.left,
          },
        ],
      });
    }
    if (outcome.request.status === 'forwarded') await notifyForwarded(outcome.request, tenant);
    if (outcome.request.status === 'rejected') {
      // Closed as a duplicate: the requester reads which request goes on.
      const reason = outcome.request.statusReason ?? 'a duplicate of an open request';
      await mail(
        outcome.request,
        openRequester(outcome.request).email,
        texts.rejected.subject(outcome.request),
        texts.rejected.text(outcome.request, reason),
        'notice of a duplicate',
      );
    }
    return toView(outcome.request, null, null, now());
  }

  /** A new code for a request still waiting for one (the old one stops working). */
  async function resendCode(ctx: VaultContext, id: string): Promise<{ sent: true }> {
    const { texts } = await context(ctx.tenantId);
    const result = await db.transaction().execute(async (tx) => {
      const request = await findOrThrow(tx, ctx.tenantId, id, true);
      if (request.status !== 'identity_pending') {
        throw new AppError(
          'conflict',
          `The request is ${request.status}; only a request waiting for verification gets a code`,
          { details: [{ path: 'requestId', message: request.status }] },
        );
      }
      const sent = Number(request.details.codesSent ?? 1);
      if (sent >= CODES_PER_REQUEST) {
        throw new AppError(
          'rate_limited',
          'Too many codes were sent for this request; contact the privacy team',
          { details: [{ path: 'requestId', message: `at most ${CODES_PER_REQUEST} codes` }] },
        );
      }
      const issued = issueCode(request);
      const updated = await updateRequest(
        tx,
        request.tenantId,
        request.id,
        { ...issued.changes, details: { ...request.details, codesSent: sent + 1 } },
        now(),
      );
      await note(tx, ctx, updated, 'step', 'a new verification code was issued');
      return { request: updated, code: issued.code };
    });
    await mail(
      result.request,
      openRequester(result.request).email,
      texts.code.subject(result.request),
      texts.code.text(result.request, result.code),
      'verification code',
    );
    return { sent: true };
  }

  async function get(tenantId: string, id: string): Promise<RequestView> {
    const request = await findOrThrow(db, tenantId, id);
    return toView(request, openRequester(request), await listTimeline(db, tenantId, id), now());
  }

  async function list(tenantId: string, filter: RequestFilter): Promise<RequestView[]> {
    return (await listRequests(db, tenantId, filter, now())).map((r) =>
      toView(r, null, null, now()),
    );
  }

  /** An operator's manual step: start work, wait for the requester, verify by another method, reject, or close by hand. */
  async function transition(
    ctx: VaultContext,
    id: string,
    input: {
      to: RequestStatus;
      reason?: string | undefined;
      method?: string | undefined;
      summary?: string | undefined;
    },
  ): Promise<RequestView> {
    const { register, tenant, texts } = await context(ctx.tenantId);
    const reasonRequired: RequestStatus[] = [
      'rejected',
      'awaiting_requester',
      'partially_completed',
    ];
    if (reasonRequired.includes(input.to) && !input.reason) {
      throw new AppError(
        'validation_failed',
        `Moving a request to ${input.to} needs a reason the requester will read`,
        { details: [{ path: 'body.reason', message: 'required' }] },
      );
    }
    if (
      input.to === 'verified' &&
      (!input.method || !register.rights.verification.includes(input.method as never))
    ) {
      throw new AppError('validation_failed', 'Say how the identity was verified', {
        details: [
          { path: 'body.method', message: `allowed: ${register.rights.verification.join(', ')}` },
        ],
      });
    }
    if (
      input.to === 'expired' ||
      input.to === 'forwarded' ||
      input.to === 'received' ||
      input.to === 'identity_pending'
    ) {
      throw new AppError('validation_failed', `${input.to} is set by Avow itself`, {
        details: [
          {
            path: 'body.to',
            message:
              'allowed: verified, in_progress, awaiting_requester, completed, partially_completed, rejected',
          },
        ],
      });
    }
    if (input.to === 'completed' || input.to === 'partially_completed') {
      if (!input.summary)
        throw new AppError(
          'validation_failed',
          'Closing a request by hand needs a summary of what was done',
          { details: [{ path: 'body.summary', message: 'required' }] },
        );
      return complete(ctx, id, {
        actions: [input.summary],
        kept: [],
        partial: input.to === 'partially_completed',
        reason: input.reason,
      });
    }
    const updated = await db.transaction().execute(async (tx) => {
      const request = await findOrThrow(tx, ctx.tenantId, id, true);
      let moved = await move(tx, ctx, request, input.to, {
        reason: input.reason,
        method: input.method,
      });
      if (input.to === 'verified') moved = await afterVerified(tx, ctx, moved, tenant);
      return moved;
    });
    const email = openRequester(updated).email;
    if (input.to === 'rejected')
      await mail(
        updated,
        email,
        texts.rejected.subject(updated),
        texts.rejected.text(updated, input.reason ?? ''),
        'rejection',
      );
    if (input.to === 'awaiting_requester')
      await mail(
        updated,
        email,
        texts.awaiting.subject(updated),
        texts.awaiting.text(updated, input.reason ?? ''),
        'request for information',
      );
    if (input.to === 'verified')
      await mail(
        updated,
        email,
        texts.verified.subject(updated),
        texts.verified.text(updated),
        'verification notice',
      );
    if (updated.status === 'forwarded') await notifyForwarded(updated, tenant);
    return get(ctx.tenantId, id);
  }

  /** One extension (Art. 12(3)): up to two further months, as the register allows, with a reason sent to the requester. */
  async function extend(
    ctx: VaultContext,
    id: string,
    input: { duration?: string | undefined; reason: string },
  ): Promise<RequestView> {
    const { register, texts } = await context(ctx.tenantId);
    const allowed = register.rights.extension;
    if (!allowed.allowed) {
      throw new AppError(
        'conflict',
        'This organisation’s register does not allow extending a request’s deadline',
        {
          details: [{ path: 'rights.extension.allowed', message: 'false in the active register' }],
        },
      );
    }
    const limit =
      allowed.duration && !isLonger(allowed.duration, maxExtension)
        ? allowed.duration
        : maxExtension;
    const duration = input.duration ?? limit;
    if (isLonger(duration, limit)) {
      throw new AppError('validation_failed', 'The extension is longer than allowed', {
        details: [{ path: 'body.duration', message: `at most ${limit}` }],
      });
    }
    const updated = await db.transaction().execute(async (tx) => {
      const request = await findOrThrow(tx, ctx.tenantId, id, true);
      if (!openStatuses.includes(request.status)) checkTransition(request.status, 'in_progress');
      if (request.extension) {
        throw new AppError(
          'conflict',
          'The deadline was already extended once; a request gets one extension',
          {
            details: [
              {
                path: 'body.duration',
                message: `extended by ${request.extension} on ${request.extendedAt?.toISOString().slice(0, 10)}`,
              },
            ],
          },
        );
      }
      const at = now();
      const dueAt = computeDueAt({
        receivedAt: request.receivedAt,
        deadline: request.deadline,
        pausedDays: request.pausedDays,
        extension: duration,
      });
      const extended = await updateRequest(
        tx,
        request.tenantId,
        request.id,
        { extension: duration, extensionReason: input.reason, extendedAt: at, dueAt },
        at,
      );
      await note(
        tx,
        ctx,
        extended,
        'step',
        `deadline extended by ${duration} to ${dueDateOf(dueAt)}: ${input.reason}`,
      );
      await audit.record(tx, {
        tenantId: extended.tenantId,
        actor: ctx.actor,
        ip: ctx.ip,
        userAgent: ctx.userAgent,
        requestId: ctx.requestId,
        action: 'request.extended',
        subjectId: extended.subjectId ?? undefined,
        outcome: 'success',
        payload: {
          rightsRequestId: extended.id,
          type: extended.type,
          status: extended.status,
          reason: input.reason.slice(0, auditTextMax),
        },
      });
      return extended;
    });
    await mail(
      updated,
      openRequester(updated).email,
      texts.extended.subject(updated),
      texts.extended.text(updated, input.reason),
      'extension notice',
    );
    return get(ctx.tenantId, id);
  }

  /**
   * Closes a request: completed or partially completed, with what was done and
   * what was kept, a signed receipt, the timeline and the audit entry in one
   * transaction; then the requester is told.
   */
  async function complete(
    ctx: VaultContext,
    id: string,
    result: Fulfilment & { reason?: string | undefined },
    inTx?: (tx: Db, request: StoredRequest) => Promise<void>,
  ): Promise<RequestView> {
    const { register, versionId, texts } = await context(ctx.tenantId);
    const done = await db.transaction().execute(async (tx) => {
      let request = await findOrThrow(tx, ctx.tenantId, id, true);
      if (request.status === 'verified') request = await move(tx, ctx, request, 'in_progress');
      // Moved in the same transaction as the outcome: a fulfilment the
      // options made fail leaves the request forwarded, for the controller to answer again.
      if (request.status === 'forwarded')
        request = await move(tx, ctx, request, 'in_progress', {
          message: 'the controller instructed fulfilment',
        });
      const to: RequestStatus = result.partial ? 'partially_completed' : 'completed';
      checkTransition(request.status, to);
      if (inTx) await inTx(tx, request);
      for (const step of result.steps ?? []) await note(tx, ctx, request, 'step', step);
      const at = now();
      const signed = signRequestReceipt(
        {
          format: 'avow.request-receipt/1',
          receiptId: newId('requestReceipt'),
          requestId: request.id,
          tenantId: request.tenantId,
          controller: register.organisation.name,
          type: request.type,
          status: to,
          receivedAt: request.receivedAt.toISOString(),
          verifiedAt: request.verifiedAt?.toISOString() ?? null,
          dueDate: dueDateOf(request.dueAt),
          completedAt: at.toISOString(),
          actions: result.actions,
          kept: result.kept,
          registerVersion: versionId,
          issuedAt: at.toISOString(),
        },
        (bytes) => keyring.sign(bytes),
      );
      const reason = result.reason ?? (result.partial ? result.partialReason : undefined);
      return move(tx, ctx, request, to, {
        ...(reason ? { reason } : {}),
        changes: {
          outcome: {
            actions: result.actions,
            kept: result.kept,
            ...(result.download
              ? { download: { expiresAt: result.download.expiresAt.toISOString() } }
              : {}),
          },
          receipt: signed as unknown as Record<string, unknown>,
        },
      });
    });
    const requester = openRequester(done);
    await mail(
      done,
      requester.email,
      texts.completed.subject(done),
      texts.completed.text(
        done,
        done.receipt as unknown as SignedRequestReceipt,
        result.download?.url ?? null,
      ),
      'completion receipt',
    );
    return get(ctx.tenantId, id);
  }

  /** Does what the request asks, through the vault, decisions and consent ledger, and closes it. */
  async function fulfil(
    ctx: VaultContext,
    id: string,
    options: FulfilOptions = {},
    by: { controller?: boolean } = {},
  ): Promise<RequestView> {
    const request = await findOrThrow(db, ctx.tenantId, id);
    if (request.status === 'forwarded' && !by.controller) {
      throw new AppError(
        'conflict',
        'The request was forwarded to the controller; it is fulfilled when the controller answers',
        { details: [{ path: 'requestId', message: 'forwarded' }] },
      );
    }
    // Checked before anything is done: what fulfilment does (an erasure, a
    // correction, a withdrawal) cannot be taken back if the request then
    // could not be closed.
    if (!fulfillable.includes(request.status)) {
      throw new AppError(
        'conflict',
        `A request that is ${request.status} cannot be fulfilled${
          request.status === 'awaiting_requester'
            ? '; move it back to in_progress when the requester has answered'
            : ''
        }`,
        {
          details: [
            {
              path: 'requestId',
              message: `${request.status}; fulfilled are requests that are ${fulfillable.join(', ')}`,
            },
          ],
        },
      );
    }
    const { register } = await context(ctx.tenantId);
    const policy = await deps.policies.current(ctx.tenantId);
    const requester = openRequester(request);
    const subjectId = request.subjectId
      ? await linkedSubjectHeld(request.tenantId, request.subjectId)
      : await findSubjectId(ctx, requester.email);
    const result = await fulfilType(
      deps,
      { ctx, request, requester, register, policy, subjectId, options, now: now() },
      {
        storeDownload: async (zip) => {
          const token = randomToken(32);
          const expiresAt = new Date(now().getTime() + DOWNLOAD_TTL_MS);
          await insertDownload(db, {
            tenantId: request.tenantId,
            tokenHash: tokenDigest(token),
            requestId: request.id,
            sealed: seal(
              downloadKey,
              zip,
              `avow/requests/download/${request.tenantId}/${request.id}`,
            ),
            bytes: zip.length,
            expiresAt,
          });
          return {
            url: `${deps.publicUrl}/v1/public/tenants/${request.tenantId}/requests/downloads/${token}`,
            expiresAt,
          };
        },
      },
    );
    if (subjectId && !request.subjectId)
      await updateRequest(db, request.tenantId, request.id, { subjectId }, now());
    return complete(ctx, id, result, result.inTx);
  }

  /**
   * The subject a request linked to one acts on now: followed through merges
   * to the one it went into, and none once it was erased (nothing is held, so
   * an objection or restriction has nothing to land on but the tombstone). An
   * erasure that commits after this check is caught by the decisions service,
   * which refuses an erased subject.
   */
  async function linkedSubjectHeld(tenantId: string, subjectId: string): Promise<string | null> {
    const subject = await findCurrentSubject(db, tenantId, subjectId);
    return subject && subject.status !== 'erased' ? subject.id : null;
  }

  /** Restriction requests other than this one in force on the subject or on subjects merged into it. */
  async function otherRestrictionsInForce(
    within: Db,
    request: StoredRequest,
    subjectId: string,
  ): Promise<RestrictionInForce[]> {
    const subjects = await listMergedSubjectIds(within, request.tenantId, subjectId);
    return listRestrictionsInForce(within, request.tenantId, subjects, request.id);
  }

  async function findSubjectId(ctx: VaultContext, email: string): Promise<string | null> {
    try {
      const subject = await deps.vault.lookup(ctx, { kind: 'email', value: email });
      return subject.id;
    } catch (error) {
      if (error instanceof AppError && error.code === 'not_found') return null;
      throw error;
    }
  }

  /**
   * Art. 18(3): the person is told BEFORE the restriction is lifted. The notice
   * is e-mailed first; only when it was sent is the restriction lifted (and
   * recorded), so a notice that cannot be sent leaves the restriction in force
   * and the call answers 503: the operator retries once mail works. The subject
   * stays restricted while another restriction request that landed on it
   * (directly, or on a subject merged into it) is in force: this request's
   * restriction is lifted and its requester told, but one lift never lifts
   * what another request still holds.
   */
  async function liftRestriction(
    ctx: VaultContext,
    id: string,
    reason: string,
  ): Promise<RequestView> {
    const { texts } = await context(ctx.tenantId);
    const liftable = (request: StoredRequest): string => {
      if (
        request.type !== 'restriction' ||
        !['completed', 'partially_completed'].includes(request.status) ||
        request.details.liftedAt
      ) {
        throw new AppError('conflict', 'Only a restriction in force can be lifted', {
          details: [
            {
              path: 'requestId',
              message: `${request.type}, ${request.status}${request.details.liftedAt ? ', already lifted' : ''}`,
            },
          ],
        });
      }
      if (!request.subjectId)
        throw new AppError('conflict', 'This restriction concerned no stored data', {
          details: [{ path: 'requestId', message: 'no subject' }],
        });
      return request.subjectId;
    };
    const before = await findOrThrow(db, ctx.tenantId, id);
    const subjectId = liftable(before);
    const held = await linkedSubjectHeld(before.tenantId, subjectId);
    if (!held) {
      throw new AppError(
        'conflict',
        'The subject was erased, and its restriction with it: there is nothing left to lift',
        { details: [{ path: 'requestId', message: 'subject erased' }] },
      );
    }
    // What the notice says: processing resumes, or stays restricted under
    // another request (decided again, under the lock, when lifting).
    const othersInForce = (await otherRestrictionsInForce(db, before, held)).length > 0;
    try {
      await mailer.send({
        to: openRequester(before).email,
        subject: texts.lifted.subject(before),
        text: texts.lifted.text(before, reason, { othersInForce }),
      });
    } catch (error) {
      logger.warn(
        { err: error, rightsRequestId: before.id },
        'the notice of lifting a restriction could not be sent',
      );
      await note(db, ctx, before, 'mail', 'notice of lifting could not be e-mailed; not lifted');
      throw new AppError(
        'unavailable',
        'The person could not be told, so the restriction was not lifted; try again',
        { details: [{ path: 'requestId', message: 'notice of lifting not sent (mail)' }] },
      );
    }
    await db.transaction().execute(async (tx) => {
      const request = await findOrThrow(tx, ctx.tenantId, id, true);
      const subjectId = liftable(request);
      await note(tx, ctx, request, 'mail', 'notice of lifting e-mailed');
      // Read under the subject's lock (FOR UPDATE), which a restriction's
      // fulfilment and a merge take too: of two lifts racing, the second waits
      // and then sees the first one lifted.
      const current = await deps.decisions.lockForRestriction(tx, request.tenantId, subjectId);
      const remaining = await otherRestrictionsInForce(tx, request, current);
      const stillRestrictedBy = remaining.map((r) => r.id);
      // What the subject shows is the earliest restriction still in force (or none).
      const earliest = remaining[0];
      await deps.decisions.setRestriction(
        tx,
        request.tenantId,
        current,
        earliest ? { at: earliest.completedAt, ground: earliest.ground } : null,
      );
      await audit.record(tx, {
        tenantId: request.tenantId,
        actor: ctx.actor,
        ip: ctx.ip,
        userAgent: ctx.userAgent,
        requestId: ctx.requestId,
        action: 'subject.restricted',
        subjectId: current,
        outcome: 'success',
        payload: {
          lifted: true,
          reason: reason.slice(0, auditTextMax),
          ...(stillRestrictedBy.length > 0 && { stillRestrictedBy }),
        },
      });
      const updated = await updateRequest(
        tx,
        request.tenantId,
        request.id,
        { details: { ...request.details, liftedAt: now().toISOString() } },
        now(),
      );
      await note(tx, ctx, updated, 'step', `restriction lifted: ${reason}`);
      if (stillRestrictedBy.length > 0) {
        const held =
          stillRestrictedBy.length === 1
            ? `restriction request ${stillRestrictedBy[0]} is`
            : `restriction requests ${stillRestrictedBy.join(', ')} are`;
        await note(
          tx,
          ctx,
          updated,
          'step',
          `the subject stays restricted: ${held} still in force`,
        );
      }
    });
    return get(ctx.tenantId, id);
  }

  /** The one-time download: the archive, once, before it expires. */
  async function download(
    tenantId: string,
    token: string,
  ): Promise<{ zip: Buffer; requestId: string }> {
    const taken = await db
      .transaction()
      .execute((tx) => takeDownload(tx, tenantId, tokenDigest(token), now()));
    if (!taken) throw notFound('Download');
    if (taken.downloadedAt || !taken.sealed)
      throw new AppError('gone', 'This link was already used; ask the privacy team for a new one');
    if (taken.expiresAt <= now())
      throw new AppError('gone', 'This link has expired; ask the privacy team for a new one');
    const zip = open(
      downloadKey,
      taken.sealed,
      `avow/requests/download/${tenantId}/${taken.requestId}`,
    );
    await note(
      db,
      { actor: { type: 'subject', id: 'requester' } },
      { tenantId, id: taken.requestId } as StoredRequest,
      'step',
      'the archive was downloaded; the link no longer works',
    );
    return { zip, requestId: taken.requestId };
  }

  // ---- processors: the controller's webhook and answer ----

  /** Where a processor tenant's controller is reached; a new webhook secret is returned once. */
  async function setControllerRoute(
    tenantId: string,
    input: {
      webhookUrl?: string | null | undefined;
      email?: string | null | undefined;
      rotateSecret?: boolean | undefined;
    },
  ) {
    const current = await findControllerRoute(db, tenantId);
    let secret: string | null = null;
    let sealedSecret = current?.sealedSecret ?? null;
    if (input.webhookUrl && (!sealedSecret || input.rotateSecret)) {
      secret = newWebhookSecret();
      sealedSecret = seal(routeKey, secret, `avow/requests/controller-route/${tenantId}`);
    }
    const route = await upsertControllerRoute(db, {
      tenantId,
      webhookUrl: input.webhookUrl === undefined ? (current?.webhookUrl ?? null) : input.webhookUrl,
      email: input.email === undefined ? (current?.email ?? null) : input.email,
      sealedSecret,
      updatedAt: now(),
    });
    return {
      webhookUrl: route.webhookUrl,
      email: route.email,
      hasSecret: route.sealedSecret !== null,
      secret,
    };
  }

  async function getControllerRoute(tenantId: string) {
    const route = await findControllerRoute(db, tenantId);
    return {
      webhookUrl: route?.webhookUrl ?? null,
      email: route?.email ?? null,
      hasSecret: Boolean(route?.sealedSecret),
      secret: null,
    };
  }

  async function webhookFor(tenantId: string): Promise<{ url: string; webhook: Webhook } | null> {
    const route = await findControllerRoute(db, tenantId);
    if (!route?.webhookUrl || !route.sealedSecret) return null;
    const secret = open(
      routeKey,
      route.sealedSecret,
      `avow/requests/controller-route/${tenantId}`,
    ).toString('utf8');
    return { url: route.webhookUrl, webhook: new Webhook(secret) };
  }

  /** The job: POST the forwarded request to the controller, signed per Standard Webhooks. A failure throws, so the job is retried. */
  async function deliverWebhook(tenantId: string, requestId: string): Promise<void> {
    const request = await findRequest(db, tenantId, requestId);
    if (request?.status !== 'forwarded') return;
    const target = await webhookFor(tenantId);
    if (!target) return;
    const requester = openRequester(request);
    const messageId = `msg_${request.id}`;
    const at = now();
    const body = JSON.stringify({
      type: 'rights_request.forwarded',
      timestamp: at.toISOString(),
      data: {
        requestId: request.id,
        tenantId: request.tenantId,
        type: request.type,
        receivedAt: request.receivedAt.toISOString(),
        dueDate: dueDateOf(request.dueAt),
        verificationMethod: request.verificationMethod,
        requester: { email: requester.email, name: requester.name ?? null },
        details: {
          ...request.details,
          ...(requester.corrections ? { corrections: requester.corrections } : {}),
          ...(requester.message ? { message: requester.message } : {}),
        },
        answerUrl: answerUrl(request),
      },
    });
    const response = await fetch(target.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'webhook-id': messageId,
        'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
        'webhook-signature': target.webhook.sign(messageId, at, body),
      },
      body,
      signal: AbortSignal.timeout(10_000),
    });
    await note(
      db,
      { actor: { type: 'system', id: 'avow' } },
      request,
      'step',
      `webhook to the controller answered HTTP ${response.status}`,
    );
    if (!response.ok) throw new Error(`controller webhook answered ${response.status}`);
  }

  /** A controller's answer arriving signed with the route's secret (Standard Webhooks). */
  async function verifyControllerAnswer(
    tenantId: string,
    rawBody: string,
    headers: Record<string, string>,
  ): Promise<ControllerAnswer> {
    const target = await webhookFor(tenantId);
    if (!target) throw notFound('Controller route');
    try {
      target.webhook.verify(rawBody, headers);
    } catch {
      throw new AppError(
        'unauthorized',
        'The answer is not signed with this route’s webhook secret (Standard Webhooks)',
      );
    }
    const parsed = JSON.parse(rawBody) as { data?: unknown };
    return (parsed.data ?? parsed) as ControllerAnswer;
  }

  /** The controller decides: fulfil it here, reject it, or say it handled the request itself. */
  async function controllerAnswer(
    ctx: VaultContext,
    id: string,
    answer: ControllerAnswer,
  ): Promise<RequestView> {
    const request = await findOrThrow(db, ctx.tenantId, id);
    if (request.status !== 'forwarded') {
      throw new AppError(
        'conflict',
        `The request is ${request.status}; the controller answers a forwarded request`,
        { details: [{ path: 'requestId', message: request.status }] },
      );
    }
    await db.transaction().execute(async (tx) => {
      const locked = await findOrThrow(tx, ctx.tenantId, id, true);
      await updateRequest(
        tx,
        locked.tenantId,
        locked.id,
        {
          controllerAnswer: {
            decision: answer.decision,
            reason: answer.reason ?? null,
            at: now().toISOString(),
          },
        },
        now(),
      );
      await note(
        tx,
        ctx,
        locked,
        'step',
        `the controller answered: ${answer.decision}${answer.reason ? ` (${answer.reason})` : ''}`,
      );
    });
    if (answer.decision === 'fulfil')
      return fulfil(ctx, id, answer.options ?? {}, { controller: true });
    if (answer.decision === 'reject') {
      const { texts } = await context(ctx.tenantId);
      const rejected = await db.transaction().execute(async (tx) =>
        move(tx, ctx, await findOrThrow(tx, ctx.tenantId, id, true), 'rejected', {
          reason: answer.reason ?? 'rejected by the controller',
        }),
      );
      await mail(
        rejected,
        openRequester(rejected).email,
        texts.rejected.subject(rejected),
        texts.rejected.text(rejected, answer.reason ?? 'rejected by the controller'),
        'rejection',
      );
      return get(ctx.tenantId, id);
    }
    return complete(ctx, id, {
      actions: [
        `the controller handled the request itself${answer.reason ? `: ${answer.reason}` : ''}`,
      ],
      kept: [],
      partial: false,
    });
  }

  // ---- scheduled work ----

  /** Requests never verified within the register's period expire, and the requester is told. */
  async function expireUnverified(at: Date = now()): Promise<number> {
    let count = 0;
    for (const request of await listUnconfirmedPastDue(db, at)) {
      const limit = computeDueAt({ receivedAt: request.receivedAt, deadline: request.deadline });
      if (limit >= at) continue;
      const expired = await db.transaction().execute(async (tx) => {
        const locked = await findRequest(tx, request.tenantId, request.id, { forUpdate: true });
        if (locked?.status !== 'identity_pending') return null;
        return move(tx, { actor: { type: 'system', id: 'avow' } }, locked, 'expired', {
          reason: `not verified by ${dueDateOf(limit)}`,
          changes: { codeHash: null, codeExpiresAt: null },
        });
      });
      if (!expired) continue;
      count++;
      const register = await deps.register.getActiveRegister(expired.tenantId);
      if (register) {
        const texts = mailTexts(register.register, await deps.tenants.get(expired.tenantId));
        await mail(
          expired,
          openRequester(expired).email,
          texts.expired.subject(expired),
          texts.expired.text(expired),
          'expiry notice',
        );
      }
    }
    return count;
  }

  /**
   * Operators hear about a request once when it is due within three days and
   * once more when it is overdue; a deadline that moves (an extension, a
   * pause) is reminded of again.
   */
  async function remindOperators(at: Date = now()): Promise<number> {
    let count = 0;
    for (const request of await listNeedingReminder(db, at, REMIND_BEFORE_MS)) {
      const register = await deps.register.getActiveRegister(request.tenantId);
      const to =
        register?.register.organisation.dpo?.email ??
        register?.register.organisation.privacyContact.email;
      const marked = await db.transaction().execute(async (tx) => {
        const locked = await findRequest(tx, request.tenantId, request.id, { forUpdate: true });
        if (
          !locked ||
          (locked.remindedAt && locked.remindedAt.getTime() !== request.remindedAt?.getTime())
        )
          return null;
        const updated = await updateRequest(tx, locked.tenantId, locked.id, { remindedAt: at }, at);
        await note(
          tx,
          { actor: { type: 'system', id: 'avow' } },
          updated,
          'step',
          locked.dueAt < at
            ? 'overdue: operators reminded'
            : `due on ${dueDateOf(locked.dueAt)}: operators reminded`,
        );
        return updated;
      });
      if (!marked || !register) continue;
      count++;
      if (to) {
        const texts = mailTexts(register.register, await deps.tenants.get(marked.tenantId));
        await mail(
          marked,
          to,
          texts.reminder.subject(marked, at),
          texts.reminder.text(marked, at),
          'operator reminder',
        );
      }
    }
    return count;
  }

  return {
    create,
    verify,
    resendCode,
    get,
    list,
    transition,
    extend,
    fulfil,
    liftRestriction,
    download,
    setControllerRoute,
    getControllerRoute,
    deliverWebhook,
    verifyControllerAnswer,
    controllerAnswer,
    expireUnverified,
    remindOperators,
    publicKeyPem: keyring.publicKeyPem,
  };
}

export type ControllerAnswer = {
  decision: 'fulfil' | 'reject' | 'handled';
  reason?: string | undefined;
  options?: FulfilOptions | undefined;
};

export type RequestsService = ReturnType<typeof createRequestsService>;
