import type { AuditEventInput } from '../audit/audit-events.js';
import type { ConsentService } from '../consent/consent-service.js';
import type { Db } from '../db/database.js';
import { coveredBy, type Policy } from '../decisions/decide.js';
import type { DecisionsService } from '../decisions/decisions-service.js';
import { AppError, type ErrorDetail } from '../errors/errors.js';
import type { Register } from '../register/register-schema.js';
import type { RetentionService } from '../retention/retention-service.js';
import type { LegalHold } from '../retention/retention-store.js';
import { keptByRegister, type VaultContext, type VaultService } from '../vault/vault-service.js';
import { buildArchive } from './requests-archive.js';
import type { StoredRequest } from './requests-store.js';

/**
 * What each request type does, through the services that own the data: the
 * vault (export, rectify, erase, pseudonymise), decisions (restriction,
 * objection) and the consent ledger (withdrawal). Each returns what was done
 * and what was kept, for the answer and the signed receipt.
 */
export type Fulfilment = {
  actions: string[];
  kept: { what: string; reason: string }[];
  partial: boolean;
  partialReason?: string | undefined;
  /** Timeline steps beyond the status change (e.g. Art. 19 notification). */
  steps?: string[] | undefined;
  download?: { url: string; expiresAt: Date } | undefined;
  /** Work that must commit with the completion (decision state). */
  inTx?: ((tx: Db, request: StoredRequest) => Promise<void>) | undefined;
};

export type FulfilOptions = {
  /** Rectification: the records to change, when the requester's corrections do not name one record each. */
  rectifications?: { recordId: string; value: unknown; reason?: string | undefined }[] | undefined;
  /** Erasure: delete or pseudonymize, among the register's erasure methods. */
  erasureMethod?: 'delete' | 'pseudonymize' | undefined;
  /** Objection: purposes where compelling legitimate grounds override the objection (never direct marketing). */
  overrides?: { purpose: string; reason: string }[] | undefined;
};

export type FulfilmentDeps = {
  vault: Pick<
    VaultService,
    'lookup' | 'get' | 'exportSubject' | 'rectify' | 'erase' | 'pseudonymize'
  >;
  decisions: Pick<DecisionsService, 'setState' | 'restrict'>;
  consent: Pick<ConsentService, 'withdraw' | 'history'>;
  audit: {
    record: (db: Db, event: AuditEventInput) => Promise<unknown>;
    accessHistory: (tenantId: string, subjectId: string) => Promise<unknown[]>;
  };
  keyring: { sign: (bytes: Buffer) => Buffer };
  /** Legal holds (src/retention): held data outlives an erasure request (Art. 17(3)(e)). */
  holds: Pick<RetentionService, 'holds'>;
};

export type FulfilInput = {
  ctx: VaultContext;
  request: StoredRequest;
  requester: {
    email: string;
    corrections?: { category: string; value: string; note?: string | undefined }[] | undefined;
  };
  register: Register;
  policy: Policy;
  subjectId: string | null;
  options: FulfilOptions;
  now: Date;
};

type Helpers = { storeDownload: (zip: Buffer) => Promise<{ url: string; expiresAt: Date }> };

const nothingHeld = (): Fulfilment => ({
  actions: ['no personal data is held under this identity; nothing needed to be done'],
  kept: [],
  partial: false,
});

const auditLogKept = (register: Register) => ({
  what: 'audit log entries about the handling of your data',
  reason: register.retention.auditLog
    ? `kept ${register.retention.auditLog.duration} as evidence of lawful processing (GDPR Art. 5(2)); the personal details in them are sealed under your key`
    : 'kept as evidence of lawful processing (GDPR Art. 5(2)); the personal details in them are sealed under your key',
});

const requestKept = {
  what: 'this request and its receipt',
  reason: 'kept as evidence that the request was answered (GDPR Art. 5(2) and 12)',
};

function event(
  input: FulfilInput,
  e: Omit<AuditEventInput, 'tenantId' | 'actor' | 'ip' | 'userAgent' | 'requestId'>,
): AuditEventInput {
  const { ctx } = input;
  return {
    ...e,
    tenantId: ctx.tenantId,
    actor: ctx.actor,
    ip: ctx.ip,
    userAgent: ctx.userAgent,
    requestId: ctx.requestId,
  } as AuditEventInput;
}

async function accessOrPortability(
  deps: FulfilmentDeps,
  input: FulfilInput,
  helpers: Helpers,
): Promise<Fulfilment> {
  const { ctx, subjectId } = input;
  const exported = subjectId
    ? await deps.vault.exportSubject(ctx, subjectId, { rightsRequestId: input.request.id })
    : null;
  const consentHistory = subjectId
    ? await deps.consent.history(ctx.tenantId, { subjectId }, { limit: 500 })
    : [];
  const accessHistory = subjectId ? await deps.audit.accessHistory(ctx.tenantId, subjectId) : [];
  const { zip, files } = await buildArchive({
    requestId: input.request.id,
    tenantId: ctx.tenantId,
    generatedAt: input.now,
    register: input.register,
    policy: input.policy,
    exported,
    consentHistory,
    accessHistory,
    sign: deps.keyring.sign,
  });
  const download = await helpers.storeDownload(zip);
  const records = exported?.records.length ?? 0;
  return {
    actions: [
      exported
        ? `an archive of your data was prepared: ${records} record${records === 1 ? '' : 's'} in ${files.length} files (data.json, a CSV per category, consent history, who accessed your data, a signed manifest)`
        : 'no personal data is held under this identity; the archive says so',
      `a one-time download link was sent, valid until ${download.expiresAt.toISOString().slice(0, 10)}`,
    ],
    kept: [],
    partial: false,
    download,
  };
}

/** Records the register says a category reaches: Art. 19 tells them about a rectification, erasure or restriction. */
function recipientsOf(input: FulfilInput, categories: string[]): string[] {
  const { register, policy } = input;
  const names = new Set<string>();
  for (const recipient of register.recipients) {
    const reaches =
      recipient.categories.length > 0
        ? categories.some((c) => coveredBy(c, recipient.categories, policy.categoryParent))
        : register.purposes.some(
            (p) =>
              p.recipients.includes(recipient.key) &&
              categories.some((c) => coveredBy(c, p.categories, policy.categoryParent)),
          );
    if (reaches) names.add(recipient.name);
  }
  return [...names];
}

async function rectification(deps: FulfilmentDeps, input: FulfilInput): Promise<Fulfilment> {
  const { ctx, subjectId } = input;
  if (!subjectId) return nothingHeld();
  const held = await deps.vault.get(ctx, subjectId);
  const changes: { recordId: string; category: string; value: unknown; reason: string }[] = [];
  const missing: string[] = [];
  if (input.options.rectifications && input.options.rectifications.length > 0) {
    const details: ErrorDetail[] = [];
    input.options.rectifications.forEach((r, i) => {
      const record = held.records.find((x) => x.id === r.recordId);
      if (!record)
        details.push({
          path: `body.rectifications.${i}.recordId`,
          message: 'not a record of this subject',
        });
      else
        changes.push({
          recordId: r.recordId,
          category: record.category,
          value: r.value,
          reason: r.reason ?? `rights request ${input.request.id}`,
        });
    });
    if (details.length > 0)
      throw new AppError(
        'validation_failed',
        'A rectification does not name a record of this subject',
        { details },
      );
  } else {
    const details: ErrorDetail[] = [];
    (input.requester.corrections ?? []).forEach((c, i) => {
      const records = held.records.filter((r) => r.category === c.category);
      if (records.length === 0) missing.push(c.category);
      else if (records.length > 1)
        details.push({
          path: `requester.corrections.${i}`,
          message: `${records.length} records of ${c.category}: name them in body.rectifications (${records.map((r) => r.id).join(', ')})`,
        });
      else
        changes.push({
          recordId: (records[0] as { id: string }).id,
          category: c.category,
          value: c.value,
          reason: c.note ?? `rights request ${input.request.id}`,
        });
    });
    if (details.length > 0)
      throw new AppError(
        'unprocessable',
        'The corrections match more than one record; say which records change',
        { details },
      );
  }
  for (const change of changes) {
    await deps.vault.rectify(ctx, subjectId, change.recordId, {
      value: change.value as never,
      reason: change.reason,
    });
  }
  const categories = [...new Set(changes.map((c) => c.category))];
  const recipients = recipientsOf(input, categories);
  const notice =
    recipients.length > 0
      ? `Art. 19: the register's recipients of ${categories.join(', ')}, to be told of the rectification (Avow does not contact them): ${recipients.join(', ')}`
      : 'Art. 19: no recipient in the register receives the rectified data; nobody needs to be told';
  return {
    actions: [
      ...changes.map(
        (c) =>
          `record ${c.recordId} (${c.category}) rectified; the previous value is kept in its history`,
      ),
      notice,
      ...missing.map((c) => `no record of ${c} is held, so there was nothing to correct`),
    ],
    kept:
      changes.length > 0
        ? [
            {
              what: 'the previous values of rectified records',
              reason:
                'kept in the record history so that every change can be traced (GDPR Art. 5(2))',
            },
          ]
        : [],
    partial: changes.length === 0 && missing.length > 0,
    partialReason:
      changes.length === 0 && missing.length > 0 ? 'none of the data named is held' : undefined,
    steps: changes.length > 0 ? [notice] : [],
  };
}

/** Every active legal hold of the tenant (paged through the retention service). */
async function activeHolds(deps: FulfilmentDeps, tenantId: string): Promise<LegalHold[]> {
  const all: LegalHold[] = [];
  for (;;) {
    const after = all.at(-1)?.id;
    const page = await deps.holds.holds(tenantId, {
      active: true,
      limit: 500,
      ...(after ? { after } : {}),
    });
    all.push(...page);
    if (page.length < 500) return all;
  }
}

const holdReason = (hold: LegalHold) => `legal hold ${hold.id}: ${hold.reason}`;

async function erasure(deps: FulfilmentDeps, input: FulfilInput): Promise<Fulfilment> {
  const { ctx, subjectId, register, policy } = input;
  if (!subjectId) return { ...nothingHeld(), kept: [requestKept] };
  const held = await deps.vault.get(ctx, subjectId);
  const methods = register.rights.erasureMethods;
  if (input.options.erasureMethod && !methods.includes(input.options.erasureMethod)) {
    throw new AppError('validation_failed', 'The register does not offer this erasure method', {
      details: [{ path: 'body.erasureMethod', message: `allowed: ${methods.join(', ')}` }],
    });
  }
  const kept = [auditLogKept(register), requestKept];
  const holds = await activeHolds(deps, ctx.tenantId);
  // A hold on the tenant or on this subject keeps everything, identities too:
  // pseudonymising would already destroy what the hold preserves.
  const wholeHold = holds.find(
    (h) => h.scope === 'tenant' || (h.scope === 'subject' && h.target === subjectId),
  );
  if (wholeHold) {
    return {
      actions: [
        'nothing was erased yet: your data is under a legal hold (GDPR Art. 17(3)(e)); it will be erased when the hold is released',
      ],
      kept: [{ what: 'all your data', reason: holdReason(wholeHold) }, ...kept],
      partial: true,
      partialReason: 'data under a legal hold is kept; it is listed with the reason',
    };
  }
  const categoryHolds = holds.filter(
    (h): h is LegalHold & { target: string } => h.scope === 'category' && h.target !== null,
  );
  const holdOf = (category: string) =>
    categoryHolds.find((h) => coveredBy(category, [h.target], policy.categoryParent));
  const heldCategories = [
    ...new Set(held.records.map((r) => r.category).filter((c) => holdOf(c) !== undefined)),
  ];
  const keep = [...new Set([...keptByRegister(policy), ...heldCategories])];
  const mustKeep = held.records.some((r) => coveredBy(r.category, keep, policy.categoryParent));
  // What the law (or a hold) makes us keep can only stay if the subject is pseudonymised rather than erased.
  const method = mustKeep
    ? 'pseudonymize'
    : (input.options.erasureMethod ?? (methods.includes('delete') ? 'delete' : 'pseudonymize'));
  const recipients = recipientsOf(input, [...new Set(held.records.map((r) => r.category))]);
  const notice =
    recipients.length > 0
      ? `Art. 19: the register's recipients of this data, to be told of the erasure (Avow does not contact them): ${recipients.join(', ')}`
      : 'Art. 19: no recipient in the register receives this data; nobody needs to be told';
  if (method === 'delete') {
    const result = await deps.vault.erase(ctx, subjectId, { rightsRequestId: input.request.id });
    return {
      actions: [
        `all your data was erased: ${result.records} record${result.records === 1 ? '' : 's'} and ${result.identities} identit${result.identities === 1 ? 'y' : 'ies'}; the key that encrypted it was destroyed, so copies in backups are unreadable`,
        notice,
      ],
      kept,
      partial: false,
      steps: [notice],
    };
  }
  const result = await deps.vault.pseudonymize(ctx, subjectId, {
    rightsRequestId: input.request.id,
    ...(heldCategories.length > 0 ? { keepCategories: keep } : {}),
  });
  return {
    actions: [
      `your identities were removed and the data kept is pseudonymised; ${result.recordsDeleted} record${result.recordsDeleted === 1 ? '' : 's'} deleted`,
      notice,
    ],
    kept: [
      ...result.retained.map((r) => {
        const hold = holdOf(r.category);
        // A hold is named even when the law keeps the category too: it outlasts the statutory period.
        return {
          what: `data of category ${r.category}`,
          reason: !hold
            ? r.reason
            : coveredBy(r.category, keptByRegister(policy), policy.categoryParent)
              ? `${holdReason(hold)}; ${r.reason}`
              : holdReason(hold),
        };
      }),
      ...kept,
    ],
    partial: result.retained.length > 0,
    partialReason:
      result.retained.length > 0
        ? heldCategories.length > 0
          ? 'some data must be kept by law or a legal hold; it is listed with its reason'
          : 'some data must be kept by law; it is listed with its reason'
        : undefined,
    steps: [notice],
  };
}

/** Art. 18(2): while restricted, only storage and legal claims continue (decisions deny the rest). */
async function restriction(
  _deps: FulfilmentDeps,
  input: FulfilInput,
  deps: FulfilmentDeps,
): Promise<Fulfilment> {
  const { subjectId } = input;
  if (!subjectId) return nothingHeld();
  const ground = String(input.request.details.ground ?? '');
  return {
    actions: [
      `processing of your data is restricted (ground: ${ground}); it is only stored, or used for legal claims, until the restriction is lifted, and you will be told before it is`,
    ],
    kept: [],
    partial: false,
    inTx: async (tx) => {
      // The subject acted on: a subject merged meanwhile is followed to the one it went into.
      const restricted = await deps.decisions.restrict(tx, input.ctx.tenantId, subjectId, {
        at: input.now,
        ground,
      });
      await deps.audit.record(
        tx,
        event(input, {
          action: 'subject.restricted',
          subjectId: restricted,
          outcome: 'success',
          payload: { reason: ground },
        }),
      );
    },
  };
}

/** Art. 21: objection per purpose; direct marketing stops unconditionally (21(3)). */
async function objection(deps: FulfilmentDeps, input: FulfilInput): Promise<Fulfilment> {
  const { subjectId, register } = input;
  if (!subjectId) return nothingHeld();
  const named = (input.request.details.purposes as string[] | undefined) ?? [];
  const targets =
    named.length > 0 ? register.purposes.filter((p) => named.includes(p.key)) : register.purposes;
  const overrides = new Map((input.options.overrides ?? []).map((o) => [o.purpose, o.reason]));
  const stop: string[] = [];
  const refused: string[] = [];
  const details: ErrorDetail[] = [];
  for (const purpose of targets) {
    const override = overrides.get(purpose.key);
    if (purpose.directMarketing) {
      if (override)
        details.push({
          path: 'body.overrides',
          message: `${purpose.key} is direct marketing: an objection to it always stops it`,
        });
      stop.push(purpose.key);
    } else if (
      ['legitimate_interests', 'public_task', 'consent'].includes(purpose.legalBasis) ||
      purpose.objectionStops
    ) {
      if (override)
        refused.push(
          `${purpose.name}: compelling legitimate grounds override the objection (${override})`,
        );
      else stop.push(purpose.key);
    } else {
      // Named or not (an objection to all processing): the person is told what goes on and why.
      refused.push(
        `${purpose.name}: relies on ${purpose.legalBasis.replace(/_/g, ' ')}, to which the right to object does not apply`,
      );
    }
  }
  if (details.length > 0)
    throw new AppError(
      'validation_failed',
      'Direct marketing cannot be kept going against an objection',
      { details },
    );
  const names = stop.map((k) => register.purposes.find((p) => p.key === k)?.name ?? k);
  return {
    actions: [
      ...(stop.length > 0
        ? [`processing for these purposes stopped: ${names.join(', ')}`]
        : ['no purpose that an objection stops uses your data']),
      ...refused.map((r) => `not stopped: ${r}`),
    ],
    kept: [],
    partial: refused.length > 0,
    partialReason:
      refused.length > 0 ? 'some purposes continue; the reasons are listed' : undefined,
    inTx: async (tx) => {
      // The subject acted on: a subject merged meanwhile is followed to the one it went into.
      let objected = subjectId;
      for (const purpose of stop) {
        ({ subjectId: objected } = await deps.decisions.setState(
          tx,
          input.ctx.tenantId,
          subjectId,
          purpose,
          { objectedAt: input.now, objectionSource: `request:${input.request.id}` },
        ));
      }
      if (stop.length > 0) {
        await deps.audit.record(
          tx,
          event(input, {
            action: 'subject.objected',
            subjectId: objected,
            outcome: 'success',
            payload: { purposes: stop },
          }),
        );
      }
    },
  };
}

async function withdrawConsent(deps: FulfilmentDeps, input: FulfilInput): Promise<Fulfilment> {
  const { subjectId, register } = input;
  if (!subjectId) return nothingHeld();
  const named = input.request.details.purposes as string[] | undefined;
  const result = await deps.consent.withdraw({
    tenantId: input.ctx.tenantId,
    holder: { subjectId },
    purposes: named && named.length > 0 ? named : undefined,
    channel: input.request.channel === 'api' ? 'api' : 'privacy_center',
    context: input.ctx,
  });
  const purposes = [...new Set(result.events.map((e) => e.purpose))].map(
    (k) => register.purposes.find((p) => p.key === k)?.name ?? k,
  );
  return {
    actions: [
      purposes.length > 0
        ? `consent withdrawn for: ${purposes.join(', ')}`
        : 'no consent was in force; nothing needed to be withdrawn',
      ...(result.receipt
        ? [`consent receipt ${result.receipt.receipt.consentReceiptID} records the withdrawal`]
        : []),
    ],
    kept:
      purposes.length > 0
        ? [
            {
              what: 'the record of your consent and its withdrawal',
              reason: 'kept to prove when consent was given and withdrawn (GDPR Art. 7(1))',
            },
          ]
        : [],
    partial: false,
  };
}

export async function fulfilType(
  deps: FulfilmentDeps,
  input: FulfilInput,
  helpers: Helpers,
): Promise<Fulfilment> {
  switch (input.request.type) {
    case 'access':
    case 'portability':
      return accessOrPortability(deps, input, helpers);
    case 'rectification':
      return rectification(deps, input);
    case 'erasure':
      return erasure(deps, input);
    case 'restriction':
      return restriction(deps, input, deps);
    case 'objection':
      return objection(deps, input);
    case 'withdraw_consent':
      return withdrawConsent(deps, input);
  }
}
