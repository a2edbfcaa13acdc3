import type { IdentityInput } from '../crypto/blind-index.js';
import { type BlindIndex, normaliseIdentity } from '../crypto/blind-index.js';
import type { Db } from '../db/database.js';
import { AppError, type ErrorDetail, notFound } from '../errors/errors.js';
import type { AuditSeam, VaultContext } from '../vault/vault-service.js';
import {
  findCurrentSubject,
  findSubjectIdsByIndex,
  type Subject,
  updateSubject,
} from '../vault/vault-store.js';
import { type Decision, decide, needsCollected } from './decide.js';
import type { PolicySource } from './policy-source.js';
import type { SubjectStateCache } from './subject-state-cache.js';
import {
  loadSubjectState,
  loadSubjectStates,
  type PurposeStateChange,
  type StoredPurposeState,
  setPurposeState,
} from './subject-state-store.js';

export type BatchItem = Decision & { index: number };

/**
 * Purpose decisions over HTTP and in process, and the one way other
 * capabilities change the state they read (consent, objection, restriction).
 */
export function createDecisionsService(deps: {
  db: Db;
  policies: PolicySource;
  blindIndex: BlindIndex;
  audit: AuditSeam;
  /** Single decisions read subject state through it when given. */
  stateCache?: SubjectStateCache;
  now?: () => Date;
}) {
  const { db, policies, blindIndex, audit, stateCache } = deps;
  const now = deps.now ?? (() => new Date());

  function checkPurpose(_purpose: string, known: Map<string, unknown>, path: string): void {
    // An unknown purpose is an answer (no_legal_basis), not an error; but a
    // register with no purposes at all means the caller forgot to activate one.
    if (known.size === 0) {
      throw new AppError(
        'unprocessable',
        'This tenant has no active register; activate one (PUT /v1/register) before asking for decisions',
        {
          details: [{ path, message: 'no active register' }],
        },
      );
    }
  }

  /**
   * One subject, one purpose. A decision opens no personal data, so it is not
   * audited by default (it runs on every send, every page view); pass
   * `record: true` when the caller acts on it and wants the evidence kept.
   */
  async function decideOne(
    ctx: VaultContext,
    input: {
      subjectId: string;
      purpose: string;
      categories?: string[] | undefined;
      record?: boolean | undefined;
    },
  ): Promise<Decision> {
    const policy = await policies.current(ctx.tenantId);
    checkPurpose(input.purpose, policy.purposes, 'body.purpose');
    const key = {
      tenantId: ctx.tenantId,
      subjectId: input.subjectId,
      purpose: input.purpose,
      collected: needsCollected(policy, input.purpose),
    };
    const state = await (stateCache ? stateCache.get(key) : loadSubjectState(db, key));
    // Another tenant's subject reads as unknown, never as a 404 that differs from "no such subject".
    const decision = decide(
      policy,
      input.subjectId,
      state ?? { subject: null, purpose: null, lastCollected: {} },
      input.purpose,
      input.categories,
      now(),
    );
    if (state && input.record) {
      await db.transaction().execute((tx) =>
        audit.record(tx, {
          tenantId: ctx.tenantId,
          actor: ctx.actor,
          ip: ctx.ip,
          userAgent: ctx.userAgent,
          requestId: ctx.requestId,
          action: 'decision.made',
          subjectId: input.subjectId,
          purpose: input.purpose,
          categories: decision.categories.map((c) => c.category),
          outcome: decision.allowed ? 'success' : 'denied',
          payload: { allowed: decision.allowed, reasons: decision.reasons },
        }),
      );
    }
    return decision;
  }

  /**
   * Many subjects, one purpose ("which of these 10,000 contacts may receive
   * this newsletter?"): three statements for all of them, one audit entry.
   */
  async function decideBatch(
    ctx: VaultContext,
    input: {
      purpose: string;
      categories?: string[] | undefined;
      subjectIds?: string[] | undefined;
      identities?: IdentityInput[] | undefined;
    },
  ): Promise<{
    purpose: string;
    registerVersion: string | null;
    allowed: number;
    denied: number;
    results: (BatchItem & { identity?: number })[];
  }> {
    const policy = await policies.current(ctx.tenantId);
    checkPurpose(input.purpose, policy.purposes, 'body.purpose');
    const ids = [...(input.subjectIds ?? [])];
    const fromIdentities: (string | null)[] = [];
    if (input.identities && input.identities.length > 0) {
      const details: ErrorDetail[] = [];
      const normalised = input.identities.map((identity, i) => {
        const result = normaliseIdentity(identity);
        if (!result.ok)
          details.push({ path: `body.identities.${i}.value`, message: result.message });
        return result.ok ? result.identity : null;
      });
      if (details.length > 0)
        throw new AppError('validation_failed', 'An identity is not valid', { details });
      const indexes = await Promise.all(
        normalised.map((n) => (n ? blindIndex.compute(ctx.tenantId, n) : Buffer.alloc(0))),
      );
      const found = await findSubjectIdsByIndex(db, ctx.tenantId, indexes);
      for (const index of indexes) fromIdentities.push(found.get(index.toString('hex')) ?? null);
    }
    const all = [...ids, ...fromIdentities.filter((id): id is string => id !== null)];
    const states = await loadSubjectStates(db, ctx.tenantId, all, input.purpose, {
      collected: needsCollected(policy, input.purpose),
    });
    const at = now();
    const empty = { subject: null, purpose: null, lastCollected: {} };
    const results: (BatchItem & { identity?: number })[] = [];
    ids.forEach((id, index) => {
      results.push({
        index,
        ...decide(policy, id, states.get(id) ?? empty, input.purpose, input.categories, at),
      });
    });
    fromIdentities.forEach((id, i) => {
      const index = ids.length + i;
      results.push({
        index,
        identity: i,
        ...decide(
          policy,
          id ?? '',
          id ? (states.get(id) ?? empty) : empty,
          input.purpose,
          input.categories,
          at,
        ),
      });
    });
    const allowed = results.filter((r) => r.allowed).length;
    await db.transaction().execute((tx) =>
      audit.record(tx, {
        tenantId: ctx.tenantId,
        actor: ctx.actor,
        ip: ctx.ip,
        userAgent: ctx.userAgent,
        requestId: ctx.requestId,
        action: 'decision.made',
        purpose: input.purpose,
        outcome: 'success',
        payload: {
          allowed: allowed === results.length,
          reasons: [`batch of ${results.length}: ${allowed} allowed`],
        },
      }),
    );
    return {
      purpose: input.purpose,
      registerVersion: policy.version,
      allowed,
      denied: results.length - allowed,
      results,
    };
  }

  /**
   * The subject a rights request acts on, locked as the vault's writes lock it
   * (FOR SHARE: a merge or erasure in progress finishes first). A subject
   * merged meanwhile is followed to the one it went into, as the consent
   * ledger follows it: the objection or restriction is the person's, and the
   * request cannot be pointed elsewhere. Written under the merged-away id, it
   * would sit on a tombstone no decision reads. A restriction changes the
   * subject row itself, so it locks FOR UPDATE (a shared lock upgraded by two
   * writers at once would deadlock).
   */
  async function currentSubject(
    tx: Db,
    tenantId: string,
    subjectId: string,
    lock: { forShare: true } | { forUpdate: true },
  ): Promise<Subject> {
    const subject = await findCurrentSubject(tx, tenantId, subjectId, lock);
    if (!subject) throw notFound('Subject');
    if (subject.status === 'erased') {
      throw new AppError('gone', 'The subject was erased meanwhile; nothing is held to act on', {
        details: [{ path: 'subjectId', message: 'erased' }],
      });
    }
    return subject;
  }

  async function currentSubjectId(
    tx: Db,
    tenantId: string,
    subjectId: string,
    lock: { forShare: true } | { forUpdate: true },
  ): Promise<string> {
    return (await currentSubject(tx, tenantId, subjectId, lock)).id;
  }

  /**
   * Rights requests set state here, inside their own transaction (pass it as
   * `tx`), and audit it under the subject returned: the one acted on.
   */
  async function setState(
    tx: Db,
    tenantId: string,
    subjectId: string,
    purpose: string,
    change: PurposeStateChange,
  ): Promise<{ subjectId: string; state: StoredPurposeState }> {
    const current = await currentSubjectId(tx, tenantId, subjectId, { forShare: true });
    return {
      subjectId: current,
      state: await setPurposeState(tx, tenantId, current, purpose, change, now()),
    };
  }

  /**
   * Art. 18: restricts all processing of a subject; returns the subject acted
   * on. A subject already restricted keeps the earlier restriction's time and
   * ground: it has been restricted since then (a lift sets what remains).
   */
  async function restrict(
    tx: Db,
    tenantId: string,
    subjectId: string,
    restriction: { at: Date; ground: string },
  ): Promise<string> {
    const subject = await currentSubject(tx, tenantId, subjectId, { forUpdate: true });
    if (subject.restrictedAt === null) {
      await updateSubject(
        tx,
        tenantId,
        subject.id,
        { restrictedAt: restriction.at, restrictionGround: restriction.ground },
        now(),
      );
    }
    return subject.id;
  }

  /**
   * The restriction a subject is under, set as a whole: null lifts it. A lift
   * decides what remains under lockForRestriction, in the same transaction.
   */
  async function setRestriction(
    tx: Db,
    tenantId: string,
    subjectId: string,
    restriction: { at: Date; ground: string } | null,
  ): Promise<string> {
    const current = await currentSubjectId(tx, tenantId, subjectId, { forUpdate: true });
    const updated = await updateSubject(
      tx,
      tenantId,
      current,
      { restrictedAt: restriction?.at ?? null, restrictionGround: restriction?.ground ?? null },
      now(),
    );
    if (!updated) throw notFound('Subject');
    return current;
  }

  /**
   * The subject a restriction is set on, locked as setRestriction locks it
   * (FOR UPDATE; merges followed, an erased subject refused). A caller that
   * must read other state before lifting a restriction (is another request's
   * still in force?) reads it under this lock in its own transaction, so two
   * lifts racing cannot each count on the other to keep the subject restricted.
   */
  async function lockForRestriction(tx: Db, tenantId: string, subjectId: string): Promise<string> {
    return currentSubjectId(tx, tenantId, subjectId, { forUpdate: true });
  }

  return {
    decide: decideOne,
    decideBatch,
    setState,
    restrict,
    setRestriction,
    lockForRestriction,
  };
}

export type DecisionsService = ReturnType<typeof createDecisionsService>;
