import type { AuditContext, AuditEventInput } from '../audit/audit-events.js';
import type { Keyring } from '../crypto/keyring.js';
import type { SubjectKeys } from '../crypto/subject-keys.js';
import type { Db } from '../db/database.js';
import { addObjection, liftObjection, setPurposeState } from '../decisions/subject-state-store.js';
import { AppError, notFound } from '../errors/errors.js';
import { idPattern, newId } from '../ids/ids.js';
import { addDuration, parseDuration } from '../register/duration.js';
import type { CookieCategory, Register } from '../register/register-schema.js';
import { cookieCategories } from '../register/register-schema.js';
import { findTenant } from '../tenancy/tenants-store.js';
import { findCurrentSubject, findSubject, listMerges, MERGE_HOPS } from '../vault/vault-store.js';
import {
  anonymiseIp,
  applyEvent,
  type ConsentAction,
  type ConsentChannel,
  type ConsentMedium,
  type CurrentConsent,
  categoryNeedsConsent,
  cookieListHash,
  cookiePurpose,
  cookiePurposePrefix,
  gpcPurposes,
  isNoop,
  optOutAction,
  textHashFor,
} from './consent-model.js';
import { openWhereabouts, sealWhereabouts } from './consent-sealing.js';
import {
  type ConsentEvent,
  type ConsentStateRecord,
  findReceipt,
  findVisitor,
  givenBefore,
  insertEvents,
  insertReceipt,
  insertVisitor,
  linkVisitor,
  listEvents,
  listReceipts,
  listStates,
  markStatesForRenewal,
  type StoredReceipt,
  upsertState,
  visitorsOf,
} from './consent-store.js';
import { buildReceipt, type SignedReceipt, signReceipt } from './receipts.js';
import { createTokens, type UnsubscribeClaim, unsubscribeHeaders } from './tokens.js';

/** The active register as the consent ledger reads it (the register service's getActiveRegister). */
export type ActiveRegisterView = { versionId: string; register: Register };
export type RegisterSource = {
  getActiveRegister: (tenantId: string) => Promise<ActiveRegisterView | null | undefined>;
};

export type AuditSink = { record: (db: Db, event: AuditEventInput) => Promise<unknown> };

export type ConsentServiceDeps = {
  db: Db;
  keyring: Pick<Keyring, 'sign' | 'verify' | 'publicKey' | 'publicKeyPem'>;
  audit: AuditSink;
  registers: RegisterSource;
  /** The holders' data keys, which seal where each choice came from. */
  subjectKeys: Pick<SubjectKeys, 'get' | 'getOrCreate'>;
  /** Where people reach this installation, for unsubscribe links. */
  publicUrl: string;
  now?: () => Date;
};

/** Whose consent: a known subject, or an anonymous visitor of the banner. */
export type Holder = { subjectId: string } | { visitorId: string };

export type ConsentChange = {
  purpose: string;
  action: ConsentAction;
  medium?: ConsentMedium | undefined;
  /** The hash of the text the person saw, when the caller showed its own wording. */
  textHash?: string | undefined;
};

export type RecordInput = {
  tenantId: string;
  holder: Holder;
  changes: ConsentChange[];
  channel: ConsentChannel;
  context: AuditContext;
  /** The client's IP and agent as seen at the edge (defaults: the request's). */
  ip?: string | undefined;
  userAgent?: string | undefined;
  /** Leave out changes that would not change the state (GPC, unsubscribe: idempotent). */
  onlyChanges?: boolean;
  /**
   * A subject that was erased: refused (410) by default; `skip` records
   * nothing and answers with no events (expiry, one-click unsubscribe).
   */
  ifErased?: 'refuse' | 'skip';
};

export type ConsentStateView = ConsentStateRecord & {
  renewalRequired: boolean;
  /** The consent a decision sees: 'given' only while given and not objected to. */
  effective: 'given' | 'not_given' | 'objected';
};

export type RecordResult = {
  holderId: string;
  events: ConsentEvent[];
  receipt: SignedReceipt | null;
  states: ConsentStateView[];
};

/** States expired per query; each holder is one transaction. */
const EXPIRY_PAGE = 500;
const expiryContext: AuditContext = { actor: { type: 'system', id: 'consent-expiry' } };

const auditAction = {
  given: 'consent.given',
  withdrawn: 'consent.withdrawn',
  refused: 'consent.refused',
  expired: 'consent.expired',
} as const;

const view = (state: ConsentStateRecord): ConsentStateView => ({
  ...state,
  renewalRequired: state.renewalRequiredAt !== null,
  effective: state.objectedAt ? 'objected' : state.consent === 'given' ? 'given' : 'not_given',
});

const registerVersionOf = (active: ActiveRegisterView | null | undefined): string | null =>
  active?.versionId ?? null;

export function createConsentService(deps: ConsentServiceDeps) {
  const { db, keyring, audit } = deps;
  const now = deps.now ?? (() => new Date());
  const tokens = createTokens(keyring);
  const publicUrl = deps.publicUrl.replace(/\/+$/, '');
  const policyUrl = (tenantId: string) => `${publicUrl}/v1/tenants/${tenantId}/privacy-policy`;

  /** Every purpose key the register lets the ledger hold. */
  function checkPurposes(register: Register | null, changes: ConsentChange[]): void {
    if (!register) {
      throw new AppError(
        'conflict',
        'This tenant has no active register; activate one before recording consent',
      );
    }
    const known = new Set([
      ...register.purposes.map((p) => p.key),
      ...cookieCategories.map((c) => cookiePurpose(c)),
    ]);
    const details = changes.flatMap((change, index) =>
      known.has(change.purpose)
        ? []
        : [
            {
              path: `body.purposes.${index}.purpose`,
              message: `is not a purpose of the active register; allowed: ${[...known].join(', ')}`,
            },
          ],
    );
    if (details.length > 0) {
      throw new AppError('unprocessable', 'Unknown purpose', { details });
    }
  }

  /**
   * The subject a named one is now: a merged subject records as the subject it
   * was merged into (chains followed), so a choice made through its id (an
   * unsubscribe link already mailed, a linked visitor) reaches the person's
   * state. Read with the shared lock the vault's writes take: a merge or
   * erasure in progress finishes first, and then its result is seen. Erased
   * subjects are not refused here (history reads come this way); `record`
   * refuses them.
   */
  async function currentSubject(
    tx: Db,
    tenantId: string,
    subjectId: string,
  ): Promise<{ id: string; erased: boolean }> {
    const subject = await findCurrentSubject(tx, tenantId, subjectId, { forShare: true });
    if (!subject) throw notFound('Subject');
    return { id: subject.id, erased: subject.status === 'erased' };
  }

  /** A visitor linked to a subject records as that subject; a merged subject as the one it went into. */
  async function resolveHolder(
    tx: Db,
    tenantId: string,
    holder: Holder,
  ): Promise<{ holderId: string; subjectId: string | null; erased: boolean }> {
    if ('subjectId' in holder) {
      const subject = await currentSubject(tx, tenantId, holder.subjectId);
      return { holderId: subject.id, subjectId: subject.id, erased: subject.erased };
    }
    const visitor = await findVisitor(tx, tenantId, holder.visitorId);
    if (!visitor) throw notFound('Visitor');
    if (!visitor.subjectId) return { holderId: visitor.id, subjectId: null, erased: false };
    const subject = await currentSubject(tx, tenantId, visitor.subjectId);
    return { holderId: subject.id, subjectId: subject.id, erased: subject.erased };
  }

  /** Whether a visitor is linked to a subject that was erased (its choices have nowhere to go). */
  async function visitorOfErased(tenantId: string, visitorId: string): Promise<boolean> {
    return (await resolveHolder(db, tenantId, { visitorId })).erased;
  }

  async function record(input: RecordInput): Promise<RecordResult> {
    const active = await deps.registers.getActiveRegister(input.tenantId);
    const register = active?.register ?? null;
    checkPurposes(register, input.changes);
    const registerVersion = registerVersionOf(active);
    const tenant = await findTenant(db, input.tenantId);
    if (!tenant) throw notFound('Tenant');
    const at = now();
    const ip = anonymiseIp(input.ip ?? input.context.ip);
    const userAgent = (input.userAgent ?? input.context.userAgent)?.slice(0, 500) ?? null;

    return db.transaction().execute(async (tx) => {
      const { holderId, subjectId, erased } = await resolveHolder(tx, input.tenantId, input.holder);
      // Nothing is recorded about an erased person: no event, receipt, state
      // or audit entry on the tombstone (the shared lock above let an erasure
      // in progress finish first, so this sees it).
      if (erased) {
        if (input.ifErased === 'skip') return { holderId, events: [], receipt: null, states: [] };
        throw new AppError('gone', 'The subject was erased; nothing is recorded about it', {
          details: [
            {
              path: 'subjectId' in input.holder ? 'body.subjectId' : 'body.visitorId',
              message:
                'subjectId' in input.holder ? 'erased' : 'linked to a subject that was erased',
            },
          ],
        });
      }
      const before = new Map(
        (await listStates(tx, input.tenantId, holderId, { forUpdate: true })).map((s) => [
          `${s.purpose} ${s.medium}`,
          s,
        ]),
      );
      const receiptId = newId('receipt');
      const events: ConsentEvent[] = [];
      const states = new Map<string, ConsentStateRecord>();
      for (const change of input.changes) {
        const medium = change.medium ?? 'all';
        const key = `${change.purpose} ${medium}`;
        const previous = states.get(key) ?? before.get(key) ?? null;
        if (input.onlyChanges && isNoop(previous, change.action)) continue;
        const event: ConsentEvent = {
          id: newId('consentEvent'),
          holderId,
          purpose: change.purpose,
          medium,
          action: change.action,
          channel: input.channel,
          registerVersion,
          textHash: change.textHash ?? textHashFor(register, change.purpose),
          ipAnonymised: ip,
          userAgent,
          receiptId,
          at,
        };
        events.push(event);
        const next = applyEvent(previous, change.action, at);
        const given = change.action === 'given';
        states.set(key, {
          holderId,
          purpose: change.purpose,
          medium,
          ...next,
          channel: input.channel,
          registerVersion: given || !previous ? registerVersion : previous.registerVersion,
          textHash: given || !previous ? event.textHash : previous.textHash,
          lastEventId: event.id,
          // Consent given again under the current register is the renewal.
          renewalRequiredAt: given ? null : (previous?.renewalRequiredAt ?? null),
          renewalRegisterVersion: given ? null : (previous?.renewalRegisterVersion ?? null),
          updatedAt: at,
        });
      }
      if (events.length === 0) {
        return { holderId, events, receipt: null, states: [...before.values()].map(view) };
      }

      // Where the choice came from is sealed under the holder's key (consent-sealing.ts).
      const key =
        ip !== null || userAgent !== null
          ? await deps.subjectKeys.getOrCreate(tx, input.tenantId, holderId)
          : null;
      await insertEvents(
        tx,
        input.tenantId,
        events.map((e) => ({
          ...e,
          ipAnonymised: null,
          userAgent: null,
          sealed: key
            ? sealWhereabouts(
                key,
                { tenantId: input.tenantId, eventId: e.id, keyOwner: holderId },
                { ipAnonymised: e.ipAnonymised, userAgent: e.userAgent },
              )
            : null,
          sealedFor: key ? holderId : null,
          requestId: input.context.requestId ?? null,
        })),
      );
      for (const [key, state] of states) {
        await upsertState(tx, input.tenantId, state);
        if (subjectId) {
          const wasObjected = (before.get(key)?.objectedAt ?? null) !== null;
          const objection =
            !wasObjected && state.objectedAt
              ? 'raised'
              : wasObjected && !state.objectedAt
                ? 'lifted'
                : null;
          await syncDecisionState(
            tx,
            input.tenantId,
            subjectId,
            state,
            objection,
            input.channel,
            at,
          );
        }
      }
      const receipt = signReceipt(
        buildReceipt({
          id: receiptId,
          tenantId: input.tenantId,
          tenantRegion: tenant.region,
          holderId,
          channel: input.channel,
          at,
          register,
          registerVersion,
          policyUrl: policyUrl(input.tenantId),
          events,
        }),
        (bytes) => keyring.sign(bytes),
      );
      await insertReceipt(tx, input.tenantId, {
        id: receiptId,
        holderId,
        receipt: JSON.stringify(receipt.receipt),
        signature: receipt.signature.value,
        issuedAt: at,
      });
      for (const event of events) await auditEvent(tx, input, subjectId, event, ip);
      const after = await listStates(tx, input.tenantId, holderId);
      return { holderId, events, receipt, states: after.map(view) };
    });
  }

  /**
   * Decisions read subject_purpose_state only. A purpose's state there is the
   * ledger's state for the purpose as a whole (medium `all`); an opt-out of one
   * medium (e-mail only) stays in the ledger for senders to check.
   *
   * The objection there is not the ledger's alone: a fulfilled objection
   * request writes it too (source `request:<id>`), and the ledger does not
   * know of it. So the ledger writes the objection only when it records one
   * (`raised`, leaving one already on record as it is), and takes it back only
   * when an explicit "given" lifted an objection the ledger recorded
   * (`lifted`), and then only one whose source is its own (`consent:<channel>`).
   * Every other event leaves the objection alone.
   */
  async function syncDecisionState(
    tx: Db,
    tenantId: string,
    subjectId: string,
    state: ConsentStateRecord,
    objection: 'raised' | 'lifted' | null,
    channel: ConsentChannel,
    at: Date,
  ): Promise<void> {
    if (state.medium !== 'all' || state.purpose.startsWith(cookiePurposePrefix)) return;
    // Consent given now (not copied from earlier) starts the purpose again for a
    // person it had been fulfilled for.
    const givenNow = state.consent === 'given' && state.consentAt?.getTime() === at.getTime();
    await setPurposeState(
      tx,
      tenantId,
      subjectId,
      state.purpose,
      {
        consent: state.consent,
        consentAt: state.consentAt,
        consentRegisterVersion: state.registerVersion,
        ...(givenNow ? { fulfilledAt: null } : {}),
      },
      at,
    );
    if (objection === 'raised' && state.objectedAt)
      await addObjection(
        tx,
        tenantId,
        subjectId,
        state.purpose,
        { objectedAt: state.objectedAt, source: `consent:${channel}` },
        at,
      );
    else if (objection === 'lifted')
      await liftObjection(tx, tenantId, subjectId, state.purpose, 'consent:', at);
  }

  async function auditEvent(
    tx: Db,
    input: RecordInput,
    subjectId: string | null,
    event: ConsentEvent,
    ip: string | null,
  ): Promise<void> {
    const base = {
      tenantId: input.tenantId,
      actor: input.context.actor,
      subjectId: subjectId ?? undefined,
      purpose: event.purpose,
      outcome: 'success' as const,
      // Only the anonymised address: the ledger's own rule holds in the audit log too.
      ip: subjectId && ip ? ip : undefined,
      userAgent: subjectId ? (event.userAgent ?? undefined) : undefined,
      requestId: input.context.requestId,
    };
    if (event.action === 'objected') {
      await audit.record(tx, {
        ...base,
        action: 'subject.objected',
        payload: { purposes: [event.purpose], reason: `consent ledger: ${event.channel}` },
      });
      return;
    }
    await audit.record(tx, {
      ...base,
      action: auditAction[event.action],
      payload: {
        consentEventId: event.id,
        ...(event.registerVersion ? { policyVersion: event.registerVersion } : {}),
        ...(event.textHash ? { textHash: event.textHash } : {}),
        channel: event.channel,
        ...(event.channel === 'gpc' ? { gpc: true } : {}),
      },
    });
  }

  /**
   * A read of an erased person's consent (or through a visitor linked to one)
   * is gone: erasure left only evidence that names no one (docs/consent.md).
   */
  function erasedRead(path: string, message: string): AppError {
    return new AppError('gone', 'The subject was erased; nothing about it is read back', {
      details: [{ path, message }],
    });
  }

  const erasedHolderRead = (holder: Holder): AppError =>
    'subjectId' in holder
      ? erasedRead('querystring.subjectId', 'erased')
      : erasedRead('querystring.visitorId', 'linked to a subject that was erased');

  /**
   * The holder's current states: a read of an erased holder's is gone; a
   * write (`forWrite`) starts from them, and `record` refuses or skips it.
   */
  async function currentStates(
    tenantId: string,
    holder: Holder,
    options: { forWrite?: boolean } = {},
  ): Promise<{ holderId: string; states: ConsentStateView[] }> {
    const { holderId, erased } = await resolveHolder(db, tenantId, holder);
    if (erased && !options.forWrite) throw erasedHolderRead(holder);
    return { holderId, states: (await listStates(db, tenantId, holderId)).map(view) };
  }

  /** Withdrawal is one call: every purpose (or the ones named) with consent given is withdrawn. */
  async function withdraw(input: {
    tenantId: string;
    holder: Holder;
    purposes?: string[] | undefined;
    medium?: ConsentMedium | undefined;
    channel: ConsentChannel;
    context: AuditContext;
    ip?: string | undefined;
    userAgent?: string | undefined;
  }): Promise<RecordResult> {
    const { states } = await currentStates(input.tenantId, input.holder, { forWrite: true });
    const purposes =
      input.purposes ??
      states
        .filter((s) => s.consent === 'given' && s.medium === (input.medium ?? 'all'))
        .map((s) => s.purpose);
    return record({
      ...input,
      changes: purposes.map((purpose) => ({ purpose, action: 'withdrawn', medium: input.medium })),
      onlyChanges: true,
    });
  }

  /**
   * A Global Privacy Control signal (`Sec-GPC: 1`): an opt-out of every
   * purpose the register marks gpcStops, and of marketing cookies. Recorded
   * once; a signal on every later request changes nothing.
   */
  async function applyGpc(input: {
    tenantId: string;
    holder: Holder;
    context: AuditContext;
    ip?: string | undefined;
    userAgent?: string | undefined;
  }): Promise<RecordResult> {
    const active = await deps.registers.getActiveRegister(input.tenantId);
    const register = active?.register ?? null;
    const { states } = await currentStates(input.tenantId, input.holder, { forWrite: true });
    const byPurpose = new Map(states.filter((s) => s.medium === 'all').map((s) => [s.purpose, s]));
    const changes = gpcPurposes(register).map((purposeKey) => {
      const purpose = register?.purposes.find((p) => p.key === purposeKey);
      return {
        purpose: purposeKey,
        action: optOutAction(purpose, byPurpose.get(purposeKey) ?? null),
      };
    });
    return record({ ...input, changes, channel: 'gpc', onlyChanges: true });
  }

  function unsubscribeUrl(claim: UnsubscribeClaim): string {
    return `${publicUrl}/v1/public/tenants/${claim.tenantId}/unsubscribe?token=${tokens.unsubscribeToken(claim)}`;
  }

  /** A link and the headers a sender puts on one mail to one subject about one purpose. */
  async function unsubscribeLink(input: {
    tenantId: string;
    subjectId: string;
    purpose: string;
    medium?: ConsentMedium | undefined;
    mailto?: string | undefined;
  }) {
    const active = await deps.registers.getActiveRegister(input.tenantId);
    checkPurposes(active?.register ?? null, [{ purpose: input.purpose, action: 'withdrawn' }]);
    // A link names a subject of this tenant that can still be mailed: an
    // unknown id (or another tenant's) is 404, an erased person 410; a merged
    // subject's link names the subject it went into.
    const subject = await findCurrentSubject(db, input.tenantId, input.subjectId);
    if (!subject) throw notFound('Subject');
    if (subject.status === 'erased') {
      throw new AppError('gone', 'The subject was erased; there is nobody to mail', {
        details: [{ path: 'body.subjectId', message: 'erased' }],
      });
    }
    const claim: UnsubscribeClaim = {
      tenantId: input.tenantId,
      subjectId: subject.id,
      purpose: input.purpose,
      medium: input.medium ?? 'all',
    };
    const url = unsubscribeUrl(claim);
    return { url, headers: unsubscribeHeaders(url, input.mailto) };
  }

  /** Reads an unsubscribe token for the tenant in the path; null when it is not ours. */
  function readUnsubscribe(tenantId: string, token: string): UnsubscribeClaim | null {
    const claim = tokens.readUnsubscribeToken(token);
    return claim && claim.tenantId === tenantId ? claim : null;
  }

  /** RFC 8058 one-click: records the opt-out once; repeating it changes nothing. */
  async function unsubscribe(input: {
    claim: UnsubscribeClaim;
    context: AuditContext;
  }): Promise<{ changed: boolean; purposeName: string }> {
    const active = await deps.registers.getActiveRegister(input.claim.tenantId);
    const purpose = active?.register.purposes.find((p) => p.key === input.claim.purpose);
    const holder = { subjectId: input.claim.subjectId };
    const { states } = await currentStates(input.claim.tenantId, holder, { forWrite: true });
    const previous =
      states.find((s) => s.purpose === input.claim.purpose && s.medium === input.claim.medium) ??
      null;
    const result = await record({
      tenantId: input.claim.tenantId,
      holder,
      changes: [
        {
          purpose: input.claim.purpose,
          action: optOutAction(purpose, previous),
          medium: input.claim.medium,
        },
      ],
      channel: 'unsubscribe_link',
      context: input.context,
      onlyChanges: true,
      // Nothing is left to mail an erased person; the link still answers success.
      ifErased: 'skip',
    });
    return { changed: result.events.length > 0, purposeName: purpose?.name ?? input.claim.purpose };
  }

  /**
   * Whose events and receipts are a holder's: a subject's own, those of the
   * subjects merged into it (recorded before the merge under their ids; the
   * ledger is not rewritten), and those of the visitors linked to any of them.
   */
  async function holderIds(tenantId: string, holder: Holder): Promise<string[]> {
    const { holderId, subjectId, erased } = await resolveHolder(db, tenantId, holder);
    if (erased) throw erasedHolderRead(holder);
    if (!subjectId) return [holderId];
    const subjects = [subjectId];
    let level = [subjectId];
    for (let hop = 0; hop < MERGE_HOPS && level.length > 0; hop++) {
      const next: string[] = [];
      for (const id of level) {
        for (const merge of await listMerges(db, tenantId, id))
          if (merge.intoSubjectId === id && !subjects.includes(merge.fromSubjectId))
            next.push(merge.fromSubjectId);
      }
      subjects.push(...next);
      level = next;
    }
    const visitors = await Promise.all(subjects.map((id) => visitorsOf(db, tenantId, id)));
    return [...subjects, ...visitors.flat()];
  }

  async function history(
    tenantId: string,
    holder: Holder,
    filter: { purpose?: string | undefined; after?: string | undefined; limit: number },
  ): Promise<ConsentEvent[]> {
    const stored = await listEvents(db, tenantId, await holderIds(tenantId, holder), filter);
    // Each key once: a page holds the events of a few holders at most.
    const keys = new Map<string, Buffer | null>();
    const keyOf = async (owner: string) => {
      if (!keys.has(owner)) {
        const found = await deps.subjectKeys.get(db, tenantId, owner);
        keys.set(owner, found.state === 'live' ? found.key : null);
      }
      return keys.get(owner) ?? null;
    };
    const events: ConsentEvent[] = [];
    for (const { sealed, sealedFor, ...event } of stored) {
      const key = sealed && sealedFor ? await keyOf(sealedFor) : null;
      // Events written before sealing keep their clear fields; a destroyed key reads as none.
      const whereabouts =
        sealed && sealedFor
          ? key
            ? openWhereabouts(key, { tenantId, eventId: event.id, keyOwner: sealedFor }, sealed)
            : { ipAnonymised: null, userAgent: null }
          : { ipAnonymised: event.ipAnonymised, userAgent: event.userAgent };
      events.push({ ...event, ...whereabouts });
    }
    return events;
  }

  const toSigned = (stored: StoredReceipt): SignedReceipt & { id: string; holderId: string } => ({
    id: stored.id,
    holderId: stored.holderId,
    receipt: JSON.parse(stored.receipt) as SignedReceipt['receipt'],
    signature: { alg: 'Ed25519', value: stored.signature },
  });

  async function receipt(tenantId: string, receiptId: string, holder?: Holder) {
    if (!idPattern('receipt').test(receiptId)) throw notFound('Receipt');
    const stored = await findReceipt(db, tenantId, receiptId);
    if (!stored) throw notFound('Receipt');
    // A visitor sees only their own receipts; another's is "not found" either way.
    if (holder && !(await holderIds(tenantId, holder)).includes(stored.holderId))
      throw notFound('Receipt');
    const issuedTo: Holder = stored.holderId.startsWith('vis_')
      ? { visitorId: stored.holderId }
      : { subjectId: stored.holderId };
    if ((await resolveHolder(db, tenantId, issuedTo)).erased)
      throw erasedRead('params.receiptId', 'issued to a subject that was erased');
    return toSigned(stored);
  }

  async function receipts(
    tenantId: string,
    holder: Holder,
    filter: { after?: string | undefined; limit: number },
  ) {
    return (await listReceipts(db, tenantId, await holderIds(tenantId, holder), filter)).map(
      toSigned,
    );
  }

  /** A new anonymous visitor and the token the banner keeps in its cookie. */
  async function newVisitor(tenantId: string): Promise<{ visitorId: string; token: string }> {
    // Public routes take the tenant from the path: an unknown one is a 404, and nothing is written.
    if (!(await findTenant(db, tenantId))) throw notFound('Tenant');
    const visitorId = newId('visitor');
    await insertVisitor(db, tenantId, visitorId, now());
    return { visitorId, token: tokens.visitorToken(tenantId, visitorId) };
  }

  function readVisitor(tenantId: string, token: string): string | null {
    return tokens.readVisitorToken(tenantId, token);
  }

  /**
   * Links a visitor to the subject it turned out to be: the visitor's current
   * choices become the subject's where the subject has nothing newer, and the
   * visitor's events appear in the subject's history. Later events of the
   * visitor are recorded on the subject.
   */
  async function link(
    tenantId: string,
    visitorId: string,
    subjectId: string,
  ): Promise<{ states: ConsentStateView[] }> {
    const at = now();
    return db.transaction().execute(async (tx) => {
      // Shared lock, as the vault's writes take: a merge or erasure in progress
      // finishes first, and then the link is refused rather than left on a tombstone.
      const subject = await findSubject(tx, tenantId, subjectId, { forShare: true });
      if (!subject) throw notFound('Subject');
      if (subject.status === 'erased') {
        throw new AppError('gone', 'The subject was erased; a visitor cannot be linked to it', {
          details: [{ path: 'body.subjectId', message: 'erased' }],
        });
      }
      if (subject.status === 'merged') {
        throw new AppError('gone', 'The subject was merged into another', {
          details: [
            {
              path: 'body.subjectId',
              message: `merged into ${subject.mergedInto ?? '(unknown)'}; link the visitor to that subject`,
            },
          ],
        });
      }
      const visitor = await findVisitor(tx, tenantId, visitorId);
      if (!visitor) throw notFound('Visitor');
      if (visitor.subjectId && visitor.subjectId !== subjectId) {
        throw new AppError('conflict', 'The visitor is already linked to another subject', {
          details: [{ path: 'body.subjectId', message: 'a visitor links to one subject' }],
        });
      }
      await linkVisitor(tx, tenantId, visitorId, subjectId, at);
      const subjectStates = new Map(
        (await listStates(tx, tenantId, subjectId, { forUpdate: true })).map((s) => [
          `${s.purpose} ${s.medium}`,
          s,
        ]),
      );
      for (const state of await listStates(tx, tenantId, visitorId)) {
        const existing = subjectStates.get(`${state.purpose} ${state.medium}`);
        if (existing && existing.updatedAt >= state.updatedAt) continue;
        const copied = { ...state, holderId: subjectId };
        await upsertState(tx, tenantId, copied);
        // The visitor's objection becomes the subject's; a link never lifts one.
        await syncDecisionState(
          tx,
          tenantId,
          subjectId,
          copied,
          copied.objectedAt && !existing?.objectedAt ? 'raised' : null,
          state.channel as ConsentChannel,
          at,
        );
      }
      return { states: (await listStates(tx, tenantId, subjectId)).map(view) };
    });
  }

  /**
   * The register changed materially for these consent purposes: consent given
   * under any other version is marked for renewal, so the banner and the
   * privacy center ask again. Returns how many states were marked. The
   * consent stays valid until the person answers (the register decides
   * whether a change needs new consent; this records that it does).
   */
  async function markForRenewal(
    tenantId: string,
    purposeKeys: readonly string[],
    registerVersionId: string,
  ): Promise<number> {
    return markStatesForRenewal(db, tenantId, purposeKeys, registerVersionId, now());
  }

  /**
   * Consent lasts as long as its purpose's `consent.validFor` says: consent
   * given longer ago than that (the same calendar rule decisions apply)
   * expires, recorded as an `expired` event on the `expiry` channel, with its
   * receipt and audit entry. A person who gives consent again starts a new
   * period. Holders are visited once each, a page at a time, each in its own
   * transaction, so a large backlog holds no long transaction.
   */
  async function expireLapsed(tenantId: string): Promise<{ expired: number }> {
    const register = await activeRegister(tenantId);
    const at = now();
    let expired = 0;
    for (const purpose of register?.purposes ?? []) {
      const lasts = purpose.consent?.validFor ? parseDuration(purpose.consent.validFor) : null;
      if (!lasts) continue;
      // A cutoff a few days late finds every candidate (calendar months differ
      // in length); each is then checked against the exact rule.
      const cutoff = addDuration(at, {
        years: -lasts.years,
        months: -lasts.months,
        weeks: -lasts.weeks,
        days: 3 - lasts.days,
      });
      let after: { holderId: string; medium: string } | null = null;
      for (;;) {
        const page = await givenBefore(db, tenantId, purpose.key, cutoff, {
          after,
          limit: EXPIRY_PAGE,
        });
        const due = new Map<string, ConsentMedium[]>();
        for (const state of page) {
          if (addDuration(state.consentAt, lasts) > at) continue;
          due.set(state.holderId, [
            ...(due.get(state.holderId) ?? []),
            state.medium as ConsentMedium,
          ]);
        }
        for (const [holderId, media] of due) {
          const result = await record({
            tenantId,
            holder: holderId.startsWith('vis_') ? { visitorId: holderId } : { subjectId: holderId },
            changes: media.map((medium) => ({ purpose: purpose.key, action: 'expired', medium })),
            channel: 'expiry',
            context: expiryContext,
            onlyChanges: true,
            // Erased after the page was read: left alone, as the query leaves them.
            ifErased: 'skip',
          });
          expired += result.events.length;
        }
        const last = page.at(-1);
        if (!last || page.length < EXPIRY_PAGE) break;
        after = { holderId: last.holderId, medium: last.medium };
      }
    }
    return { expired };
  }

  /** What the banner needs: the register's cookie categories, their cookies and the list's hash. */
  async function bannerConfig(tenantId: string) {
    const tenant = await findTenant(db, tenantId);
    if (!tenant) throw notFound('Tenant');
    const active = await deps.registers.getActiveRegister(tenantId);
    const register = active?.register ?? null;
    const cookies = register?.cookies ?? [];
    const categories = (['necessary', 'functional', 'analytics', 'marketing'] as CookieCategory[])
      .filter(
        (category) => category === 'necessary' || cookies.some((c) => c.category === category),
      )
      .map((category) => ({
        key: category,
        required: !categoryNeedsConsent(register, category),
        cookies: cookies
          .filter((c) => c.category === category)
          .map((c) => ({
            name: c.name,
            provider: c.provider,
            purpose: c.purpose,
            lifetime: c.lifetime,
          })),
      }));
    return {
      tenantId,
      registerVersion: registerVersionOf(active),
      organisation: register?.organisation.name ?? tenant.name,
      policyUrl: policyUrl(tenantId),
      language: register?.policy.language ?? 'en',
      cookieListHash: cookieListHash(cookies),
      categories,
    };
  }

  async function activeRegister(tenantId: string): Promise<Register | null> {
    return (await deps.registers.getActiveRegister(tenantId))?.register ?? null;
  }

  async function purposeName(tenantId: string, key: string): Promise<string | null> {
    return (await activeRegister(tenantId))?.purposes.find((p) => p.key === key)?.name ?? null;
  }

  return {
    record,
    activeRegister,
    purposeName,
    withdraw,
    applyGpc,
    currentStates,
    history,
    receipt,
    receipts,
    newVisitor,
    readVisitor,
    visitorOfErased,
    link,
    markForRenewal,
    expireLapsed,
    unsubscribeLink,
    readUnsubscribe,
    unsubscribe,
    bannerConfig,
    publicKeyPem: keyring.publicKeyPem,
    publicKey: keyring.publicKey,
  };
}

export type ConsentService = ReturnType<typeof createConsentService>;
export type CurrentConsentState = CurrentConsent;
