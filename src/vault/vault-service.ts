import type { AuditContext, AuditEventInput } from '../audit/audit-events.js';
import { cookiePurposePrefix, mergeConsent } from '../consent/consent-model.js';
import { openWhereabouts, sealWhereabouts } from '../consent/consent-sealing.js';
import {
  type ConsentStateRecord,
  deleteStates,
  forgetAddresses,
  forgetSubjects,
  listSealedFor,
  listStates,
  relinkVisitors,
  resealEvent,
  upsertState,
} from '../consent/consent-store.js';
import {
  type BlindIndex,
  type IdentityInput,
  type NormalisedIdentity,
  normaliseIdentity,
} from '../crypto/blind-index.js';
import { open, seal } from '../crypto/keyring.js';
import type { SubjectKeys } from '../crypto/subject-keys.js';
import type { Db } from '../db/database.js';
import { coveredBy, type Decision, decide, type Policy } from '../decisions/decide.js';
import type { PolicySource } from '../decisions/policy-source.js';
import {
  clearFulfilment,
  deletePurposeStates,
  listPurposeStates,
  loadSubjectStates,
  mergedPurposeState,
  type StoredPurposeState,
  setPurposeState,
} from '../decisions/subject-state-store.js';
import { AppError, type ErrorDetail, notFound } from '../errors/errors.js';
import { newId } from '../ids/ids.js';
import { type LegalHold, listHolds, lockTenantRetention } from '../retention/retention-store.js';
import {
  deleteIdentities,
  deleteSubjectData,
  findRecord,
  findSubject,
  findSubjectIdsByIndex,
  insertHistory,
  insertIdentities,
  insertMerge,
  insertRecords,
  insertSubject,
  listHistory,
  listIdentities,
  listMergedSubjectIds,
  listMerges,
  listRecords,
  type StoredRecord,
  type Subject,
  type SubjectTimestamps,
  updateRecordValue,
  updateSubject,
} from './vault-store.js';

/**
 * The personal-data vault. Every value, identity and free text that could
 * identify a person is sealed under that subject's data key before it reaches
 * the database, and opened only on a read that names a purpose the register
 * allows. Every read and write is recorded through the audit seam in the
 * same transaction.
 */
export type VaultContext = AuditContext & { tenantId: string };

export type AuditSeam = { record: (db: Db, event: AuditEventInput) => Promise<unknown> };

export type RecordValue = string | number | boolean | null | Record<string, unknown> | unknown[];

export type RecordSource =
  | { type: 'subject' | 'contracting_party' | 'automatic' }
  | { type: 'public_source'; reference: string }
  | { type: 'third_party'; name: string };

export type NewRecord = {
  category: string;
  value: RecordValue;
  source: RecordSource;
  purposes: string[];
  collectedAt?: Date | undefined;
};

export type VaultRecord = {
  id: string;
  subjectId: string;
  category: string;
  value: RecordValue;
  source: RecordSource;
  purposes: string[];
  version: number;
  collectedAt: Date;
  createdAt: Date;
  updatedAt: Date;
};

export type RecordMeta = Omit<VaultRecord, 'value' | 'source'> & {
  source: { type: RecordSource['type'] };
};

export type Identity = NormalisedIdentity & { category: string };

/** Which register category an identity is, so reads can ask the register about it. */
export const identityCategory: Record<NormalisedIdentity['kind'], string> = {
  email: 'user.contact.email',
  phone: 'user.contact.phone_number',
  account_id: 'user.unique_id',
  external: 'user.unique_id',
};

type SealedValue = { v: RecordValue; ref?: string; name?: string };

const recordAad = (tenantId: string, subjectId: string, recordId: string, version: number) =>
  `avow/vault/record/${tenantId}/${subjectId}/${recordId}/${version}`;
const reasonAad = (tenantId: string, subjectId: string, recordId: string, version: number) =>
  `avow/vault/rectification/${tenantId}/${subjectId}/${recordId}/${version}`;
const identityAad = (tenantId: string, subjectId: string) =>
  `avow/vault/identity/${tenantId}/${subjectId}`;

function actorLabel(ctx: VaultContext): string {
  return `${ctx.actor.type}:${ctx.actor.id}`;
}

function sealValue(key: Buffer, value: RecordValue, source: RecordSource, aad: string): Buffer {
  const body: SealedValue = { v: value };
  if (source.type === 'public_source') body.ref = source.reference;
  if (source.type === 'third_party') body.name = source.name;
  return seal(key, JSON.stringify(body), aad);
}

function openValue(
  key: Buffer,
  sealed: Buffer,
  sourceType: string,
  aad: string,
): { value: RecordValue; source: RecordSource } {
  const body = JSON.parse(open(key, sealed, aad).toString('utf8')) as SealedValue;
  let source: RecordSource;
  if (sourceType === 'public_source') source = { type: 'public_source', reference: body.ref ?? '' };
  else if (sourceType === 'third_party') source = { type: 'third_party', name: body.name ?? '' };
  else source = { type: sourceType as 'subject' };
  return { value: body.v, source };
}

function invalid(message: string, details: ErrorDetail[]): AppError {
  return new AppError('validation_failed', message, { details });
}

function list(values: Iterable<string>): string {
  const all = [...values];
  return all.length === 0 ? '(none: activate a register that declares them)' : all.join(', ');
}

export function createVaultService(deps: {
  db: Db;
  subjectKeys: SubjectKeys;
  blindIndex: BlindIndex;
  audit: AuditSeam;
  policies: PolicySource;
  now?: () => Date;
}) {
  const { db, subjectKeys, blindIndex, audit, policies } = deps;
  const now = deps.now ?? (() => new Date());

  const event = (
    ctx: VaultContext,
    e: Omit<AuditEventInput, 'tenantId' | 'actor' | 'ip' | 'userAgent' | 'requestId'>,
  ) =>
    ({
      ...e,
      tenantId: ctx.tenantId,
      actor: ctx.actor,
      ip: ctx.ip,
      userAgent: ctx.userAgent,
      requestId: ctx.requestId,
    }) as AuditEventInput;

  function normaliseAll(inputs: IdentityInput[], path: string): NormalisedIdentity[] {
    const details: ErrorDetail[] = [];
    const out: NormalisedIdentity[] = [];
    inputs.forEach((input, i) => {
      const result = normaliseIdentity(input);
      if (result.ok) out.push(result.identity);
      else details.push({ path: `${path}.${i}.value`, message: result.message });
    });
    if (details.length > 0) throw invalid('An identity is not valid', details);
    return out;
  }

  async function indexesOf(tenantId: string, identities: NormalisedIdentity[]): Promise<Buffer[]> {
    return Promise.all(identities.map((identity) => blindIndex.compute(tenantId, identity)));
  }

  /**
   * Normalised identities with their blind indexes, each once: Bob@example.com
   * and bob@example.com are one address, and inserting it twice would look
   * like another subject taking it.
   */
  async function distinctIdentities(
    tenantId: string,
    inputs: IdentityInput[],
    path: string,
  ): Promise<{ identities: NormalisedIdentity[]; indexes: Buffer[] }> {
    const all = normaliseAll(inputs, path);
    const allIndexes = await indexesOf(tenantId, all);
    const seen = new Set<string>();
    const identities: NormalisedIdentity[] = [];
    const indexes: Buffer[] = [];
    all.forEach((identity, i) => {
      const index = allIndexes[i] as Buffer;
      const hex = index.toString('hex');
      if (seen.has(hex)) return;
      seen.add(hex);
      identities.push(identity);
      indexes.push(index);
    });
    return { identities, indexes };
  }

  function checkKind(policy: Policy, kind: string, path: string): void {
    const subjects = policy.register?.subjects.map((s) => s.key) ?? [];
    if (!subjects.includes(kind)) {
      throw invalid('The subject kind is not a data subject of the active register', [
        { path, message: `allowed: ${list(subjects)}` },
      ]);
    }
  }

  /**
   * The subject, if it is still one (not erased, not merged). `forUpdate` locks
   * its row for a change to the subject as a whole (merge, erase,
   * pseudonymise); `forShare` for a write of its data (records, identities),
   * so such writes run side by side but wait for, and then see, a merge,
   * erasure or pseudonymisation in progress instead of writing under a
   * subject that is being moved or emptied (the write would be lost).
   */
  async function liveSubject(
    tx: Db,
    ctx: VaultContext,
    id: string,
    options: { forUpdate?: boolean; forShare?: boolean } = {},
  ): Promise<Subject> {
    const subject = await findSubject(tx, ctx.tenantId, id, options);
    if (!subject) throw notFound('Subject');
    if (subject.status === 'erased') throw new AppError('gone', 'The subject was erased');
    if (subject.status === 'merged') {
      throw new AppError('gone', 'The subject was merged into another', {
        details: [
          { path: 'subjectId', message: `merged into ${subject.mergedInto ?? '(unknown)'}` },
        ],
      });
    }
    return subject;
  }

  async function liveKey(tx: Db, tenantId: string, subjectId: string): Promise<Buffer> {
    const state = await subjectKeys.get(tx, tenantId, subjectId);
    if (state.state !== 'live') throw new AppError('gone', 'The subject’s data was erased');
    return state.key;
  }

  async function writeIdentities(
    tx: Db,
    ctx: VaultContext,
    subjectId: string,
    identities: NormalisedIdentity[],
    indexes: Buffer[],
    key: Buffer,
  ): Promise<number> {
    const rows = identities.map((identity, i) => ({
      tenantId: ctx.tenantId,
      blindIndex: indexes[i] as Buffer,
      subjectId,
      kind: identity.kind,
      sealed: seal(key, JSON.stringify(identity), identityAad(ctx.tenantId, subjectId)),
    }));
    const inserted = await insertIdentities(tx, rows);
    if (inserted !== rows.length) {
      // Another request gave one of these identities to another subject meanwhile.
      throw new AppError('conflict', 'An identity was just given to another subject; try again');
    }
    return inserted;
  }

  /**
   * Finds the one subject these identities belong to, or creates it. Identities
   * not yet known are added to the subject found. Identities that belong to two
   * different subjects are a conflict: merge them first.
   */
  async function findOrCreate(
    ctx: VaultContext,
    input: { kind: string; identities: IdentityInput[] },
  ): Promise<{ subject: Subject; created: boolean }> {
    const policy = await policies.current(ctx.tenantId);
    checkKind(policy, input.kind, 'body.kind');
    const { identities, indexes } = await distinctIdentities(
      ctx.tenantId,
      input.identities,
      'body.identities',
    );
    return db.transaction().execute(async (tx) => {
      const found = await findSubjectIdsByIndex(tx, ctx.tenantId, indexes);
      const owners = new Set(found.values());
      if (owners.size > 1) {
        throw new AppError(
          'conflict',
          'These identities belong to different subjects; merge them first',
          {
            details: [{ path: 'body.identities', message: `subjects: ${[...owners].join(', ')}` }],
          },
        );
      }
      const missing = identities.filter(
        (_, i) => !found.has((indexes[i] as Buffer).toString('hex')),
      );
      const missingIndexes = indexes.filter((ix) => !found.has(ix.toString('hex')));
      const [existingId] = owners;
      if (existingId) {
        const subject = await liveSubject(tx, ctx, existingId, { forShare: true });
        if (missing.length > 0) {
          const key = await liveKey(tx, ctx.tenantId, subject.id);
          await writeIdentities(tx, ctx, subject.id, missing, missingIndexes, key);
          await audit.record(
            tx,
            event(ctx, {
              action: 'subject.identity_added',
              subjectId: subject.id,
              outcome: 'success',
              payload: { identities: missing.map(({ kind, value }) => ({ kind, value })) },
            }),
          );
        }
        return { subject, created: false };
      }
      const at = now();
      const subject = await insertSubject(tx, {
        tenantId: ctx.tenantId,
        id: newId('subject'),
        kind: input.kind,
        at,
      });
      const key = await subjectKeys.getOrCreate(tx, ctx.tenantId, subject.id);
      await writeIdentities(tx, ctx, subject.id, identities, indexes, key);
      await audit.record(
        tx,
        event(ctx, {
          action: 'subject.created',
          subjectId: subject.id,
          outcome: 'success',
          payload: { identities: identities.map(({ kind, value }) => ({ kind, value })) },
        }),
      );
      return { subject, created: true };
    });
  }

  /** The subject an identity belongs to, through its blind index. */
  async function lookup(ctx: VaultContext, identity: IdentityInput): Promise<Subject> {
    const [normalised] = normaliseAll([identity], 'body');
    const [index] = await indexesOf(ctx.tenantId, normalised ? [normalised] : []);
    if (!index) throw notFound('Subject');
    const found = await findSubjectIdsByIndex(db, ctx.tenantId, [index]);
    const id = found.get(index.toString('hex'));
    const subject = id ? await findSubject(db, ctx.tenantId, id) : undefined;
    if (!subject) throw notFound('Subject');
    return subject;
  }

  async function get(ctx: VaultContext, id: string) {
    const subject = await findSubject(db, ctx.tenantId, id);
    if (!subject) throw notFound('Subject');
    const [identities, records, purposeStates, merges] = await Promise.all([
      listIdentities(db, ctx.tenantId, id),
      listRecords(db, ctx.tenantId, id),
      listPurposeStates(db, ctx.tenantId, id),
      listMerges(db, ctx.tenantId, id),
    ]);
    return {
      subject,
      identityKinds: identities.map((i) => i.kind),
      records: records.map(toMeta),
      purposeStates,
      merges,
    };
  }

  /** A purpose key the active register does not have is the caller's mistake, named by path. */
  function checkPurposes(policy: Policy, keys: string[], path: string): void {
    const unknown = keys.filter((key) => !policy.purposes.has(key));
    if (unknown.length > 0) {
      throw invalid(
        'A purpose is not in the active register',
        unknown.map((key) => ({
          path: `${path}.${key}`,
          message: `allowed: ${list([...policy.purposes.keys()])}`,
        })),
      );
    }
  }

  async function update(
    ctx: VaultContext,
    id: string,
    input: Partial<SubjectTimestamps> & {
      kind?: string;
      /** Purposes done for this subject, from when (null: not fulfilled after all). */
      fulfilledPurposes?: Record<string, Date | null>;
    },
  ): Promise<Subject> {
    const { fulfilledPurposes = {}, ...changes } = input;
    const fulfilled = Object.entries(fulfilledPurposes);
    if (changes.kind !== undefined || fulfilled.length > 0) {
      const policy = await policies.current(ctx.tenantId);
      if (changes.kind !== undefined) checkKind(policy, changes.kind, 'body.kind');
      checkPurposes(
        policy,
        fulfilled.map(([purpose]) => purpose),
        'body.fulfilledPurposes',
      );
    }
    return db.transaction().execute(async (tx) => {
      await liveSubject(tx, ctx, id, { forUpdate: true });
      const at = now();
      const updated = await updateSubject(tx, ctx.tenantId, id, changes, at);
      if (!updated) throw notFound('Subject');
      for (const [purpose, fulfilledAt] of fulfilled) {
        if (fulfilledAt === null) await clearFulfilment(tx, ctx.tenantId, id, purpose, at);
        else await setPurposeState(tx, ctx.tenantId, id, purpose, { fulfilledAt }, at);
      }
      // Names of the fields, never their values: a leaving date or a kind says
      // something about the person, and these timestamps start retention clocks.
      const fields = [
        ...Object.entries(changes)
          .filter(([, value]) => value !== undefined)
          .map(([field]) => field),
        ...fulfilled.map(([purpose]) => `fulfilledPurposes.${purpose}`),
      ].sort();
      if (fields.length > 0)
        await audit.record(
          tx,
          event(ctx, {
            action: 'subject.updated',
            subjectId: id,
            outcome: 'success',
            payload: { fields },
          }),
        );
      return updated;
    });
  }

  async function addIdentities(
    ctx: VaultContext,
    id: string,
    inputs: IdentityInput[],
  ): Promise<{ added: number }> {
    const { identities, indexes } = await distinctIdentities(
      ctx.tenantId,
      inputs,
      'body.identities',
    );
    return db.transaction().execute(async (tx) => {
      await liveSubject(tx, ctx, id, { forUpdate: true });
      const found = await findSubjectIdsByIndex(tx, ctx.tenantId, indexes);
      const elsewhere = [...found.values()].filter((owner) => owner !== id);
      if (elsewhere.length > 0) {
        throw new AppError(
          'conflict',
          'An identity belongs to another subject; merge the two subjects instead',
          {
            details: [
              {
                path: 'body.identities',
                message: `subjects: ${[...new Set(elsewhere)].join(', ')}`,
              },
            ],
          },
        );
      }
      const newOnes = identities.filter(
        (_, i) => !found.has((indexes[i] as Buffer).toString('hex')),
      );
      const newIndexes = indexes.filter((ix) => !found.has(ix.toString('hex')));
      if (newOnes.length === 0) return { added: 0 };
      const key = await liveKey(tx, ctx.tenantId, id);
      const added = await writeIdentities(tx, ctx, id, newOnes, newIndexes, key);
      await audit.record(
        tx,
        event(ctx, {
          action: 'subject.identity_added',
          subjectId: id,
          outcome: 'success',
          payload: { identities: newOnes.map(({ kind, value }) => ({ kind, value })) },
        }),
      );
      return { added };
    });
  }

  function checkRecords(policy: Policy, records: NewRecord[]): void {
    const register = policy.register;
    const categories = register?.categories.map((c) => c.key) ?? [];
    const purposes = register?.purposes.map((p) => p.key) ?? [];
    const details: ErrorDetail[] = [];
    records.forEach((record, i) => {
      if (!policy.categoryKeys.has(record.category)) {
        details.push({
          path: `body.records.${i}.category`,
          message: `not a category of the register; allowed: ${list(categories)}`,
        });
      }
      record.purposes.forEach((key, j) => {
        const purpose = policy.purposes.get(key);
        if (!purpose) {
          details.push({
            path: `body.records.${i}.purposes.${j}`,
            message: `not a purpose of the register; allowed: ${list(purposes)}`,
          });
        } else if (
          policy.categoryKeys.has(record.category) &&
          !coveredBy(record.category, purpose.categories, policy.categoryParent)
        ) {
          details.push({
            path: `body.records.${i}.purposes.${j}`,
            message: `purpose ${key} does not cover category ${record.category}; its categories: ${purpose.categories.join(', ')}`,
          });
        }
      });
    });
    if (details.length > 0) throw invalid('A record does not fit the register', details);
  }

  async function writeRecords(
    ctx: VaultContext,
    subjectId: string,
    records: NewRecord[],
  ): Promise<RecordMeta[]> {
    const policy = await policies.current(ctx.tenantId);
    checkRecords(policy, records);
    return db.transaction().execute(async (tx) => {
      // merge reads this subject's records and re-inserts them under another; a
      // record inserted meanwhile would be left behind, unreadable (see liveSubject).
      await liveSubject(tx, ctx, subjectId, { forShare: true });
      const key = await liveKey(tx, ctx.tenantId, subjectId);
      const at = now();
      const rows = records.map((record) => {
        const id = newId('record');
        return {
          tenantId: ctx.tenantId,
          id,
          subjectId,
          category: record.category,
          source: record.source.type,
          purposes: [...new Set(record.purposes)],
          sealed: sealValue(
            key,
            record.value,
            record.source,
            recordAad(ctx.tenantId, subjectId, id, 1),
          ),
          collectedAt: record.collectedAt ?? at,
          at,
        };
      });
      const stored = await insertRecords(tx, rows);
      for (const row of stored) {
        await audit.record(
          tx,
          event(ctx, {
            action: 'record.written',
            subjectId,
            categories: [row.category],
            outcome: 'success',
            payload: {
              recordId: row.id,
              category: row.category,
              source: row.source,
              version: row.version,
            },
          }),
        );
      }
      return stored.map(toMeta);
    });
  }

  /** Rectification: the new value replaces the old, which stays sealed in the history with who, when and why. */
  async function rectify(
    ctx: VaultContext,
    subjectId: string,
    recordId: string,
    input: { value: RecordValue; reason: string; source?: RecordSource | undefined },
  ): Promise<RecordMeta> {
    return db.transaction().execute(async (tx) => {
      // A merge copies the record as it read it; a rectification meanwhile would be undone.
      await liveSubject(tx, ctx, subjectId, { forShare: true });
      const record = await findRecord(tx, ctx.tenantId, subjectId, recordId);
      if (!record) throw notFound('Record');
      const key = await liveKey(tx, ctx.tenantId, subjectId);
      const at = now();
      const previous = openValue(
        key,
        record.sealed,
        record.source,
        recordAad(ctx.tenantId, subjectId, recordId, record.version),
      );
      const source = input.source ?? previous.source;
      await insertHistory(tx, {
        tenantId: ctx.tenantId,
        recordId,
        version: record.version,
        subjectId,
        source: record.source,
        // The old bytes as they were: still sealed under the same key and context.
        sealed: record.sealed,
        sealedReason: seal(
          key,
          input.reason,
          reasonAad(ctx.tenantId, subjectId, recordId, record.version),
        ),
        changedBy: actorLabel(ctx),
        changedAt: at,
      });
      const version = record.version + 1;
      const updated = await updateRecordValue(tx, ctx.tenantId, recordId, {
        sealed: sealValue(
          key,
          input.value,
          source,
          recordAad(ctx.tenantId, subjectId, recordId, version),
        ),
        version,
        source: source.type,
        collectedAt: at,
        at,
      });
      await audit.record(
        tx,
        event(ctx, {
          action: 'record.rectified',
          subjectId,
          categories: [record.category],
          outcome: 'success',
          payload: {
            recordId,
            category: record.category,
            version,
            previousVersion: record.version,
          },
        }),
      );
      return toMeta(updated);
    });
  }

  function openRecord(key: Buffer, tenantId: string, record: StoredRecord): VaultRecord {
    const opened = openValue(
      key,
      record.sealed,
      record.source,
      recordAad(tenantId, record.subjectId, record.id, record.version),
    );
    return { ...toMeta(record), value: opened.value, source: opened.source };
  }

  function openIdentities(
    key: Buffer,
    tenantId: string,
    subjectId: string,
    rows: { sealed: Buffer }[],
  ): Identity[] {
    return rows.map((row) => {
      const identity = JSON.parse(
        open(key, row.sealed, identityAad(tenantId, subjectId)).toString('utf8'),
      ) as NormalisedIdentity;
      return { ...identity, category: identityCategory[identity.kind] };
    });
  }

  /**
   * A read of personal data always names a purpose. The register decides which
   * categories that purpose may use for this subject now; only those are
   * opened, the rest are listed as withheld with the reasons.
   */
  async function readForPurpose(ctx: VaultContext, subjectId: string, purpose: string) {
    const policy = await policies.current(ctx.tenantId);
    return db.transaction().execute(async (tx) => {
      const subject = await findSubject(tx, ctx.tenantId, subjectId);
      if (!subject) throw notFound('Subject');
      // A merged subject's data lives under the subject it was merged into: say where.
      if (subject.status === 'merged') await liveSubject(tx, ctx, subjectId);
      const [records, identityRows, states] = await Promise.all([
        listRecords(tx, ctx.tenantId, subjectId),
        listIdentities(tx, ctx.tenantId, subjectId),
        loadSubjectStates(tx, ctx.tenantId, [subjectId], purpose),
      ]);
      const state = states.get(subjectId) ?? { subject: null, purpose: null, lastCollected: {} };
      const held = [
        ...new Set([
          ...records.map((r) => r.category),
          ...identityRows.map((i) => identityCategory[i.kind as NormalisedIdentity['kind']]),
        ]),
      ];
      const decision = decide(
        policy,
        subjectId,
        state,
        purpose,
        held.length > 0 ? held : undefined,
        now(),
      );
      const allowed = new Set(decision.categories.filter((c) => c.allowed).map((c) => c.category));
      const visibleRecords = records.filter((r) => allowed.has(r.category));
      const visibleIdentities = identityRows.filter((i) =>
        allowed.has(identityCategory[i.kind as NormalisedIdentity['kind']]),
      );
      let opened: VaultRecord[] = [];
      let identities: Identity[] = [];
      if (visibleRecords.length + visibleIdentities.length > 0) {
        const key = await liveKey(tx, ctx.tenantId, subjectId);
        opened = visibleRecords.map((r) => openRecord(key, ctx.tenantId, r));
        identities = openIdentities(key, ctx.tenantId, subjectId, visibleIdentities);
      }
      await audit.record(
        tx,
        event(ctx, {
          action: 'subject.read',
          subjectId,
          purpose,
          categories: [...allowed],
          outcome: allowed.size > 0 || held.length === 0 ? 'success' : 'denied',
          payload: {
            recordIds: opened.map((r) => r.id).slice(0, 1000),
            count: opened.length + identities.length,
          },
        }),
      );
      return {
        subjectId,
        purpose,
        registerVersion: decision.registerVersion,
        identities,
        records: opened,
        withheld: decision.categories.filter((c) => !c.allowed),
        decision,
      };
    });
  }

  /** Everything held about a subject, for access and portability requests: values, history, identities, state. */
  async function exportSubject(
    ctx: VaultContext,
    subjectId: string,
    options: { rightsRequestId?: string } = {},
  ) {
    return db.transaction().execute(async (tx) => {
      const subject = await liveSubject(tx, ctx, subjectId);
      const key = await liveKey(tx, ctx.tenantId, subjectId);
      const [records, identityRows, history, purposeStates, merges] = await Promise.all([
        listRecords(tx, ctx.tenantId, subjectId),
        listIdentities(tx, ctx.tenantId, subjectId),
        listHistory(tx, ctx.tenantId, subjectId),
        listPurposeStates(tx, ctx.tenantId, subjectId),
        listMerges(tx, ctx.tenantId, subjectId),
      ]);
      const out = {
        subject,
        identities: openIdentities(key, ctx.tenantId, subjectId, identityRows),
        records: records.map((r) => openRecord(key, ctx.tenantId, r)),
        history: history.map((h) => ({
          recordId: h.recordId,
          version: h.version,
          ...openValue(
            key,
            h.sealed,
            h.source,
            recordAad(ctx.tenantId, subjectId, h.recordId, h.version),
          ),
          reason: open(
            key,
            h.sealedReason,
            reasonAad(ctx.tenantId, subjectId, h.recordId, h.version),
          ).toString('utf8'),
          changedBy: h.changedBy,
          changedAt: h.changedAt,
        })),
        purposeStates: purposeStates as StoredPurposeState[],
        merges,
      };
      await audit.record(
        tx,
        event(ctx, {
          action: 'subject.exported',
          subjectId,
          outcome: 'success',
          payload: options.rightsRequestId ? { rightsRequestId: options.rightsRequestId } : {},
        }),
      );
      return out;
    });
  }

  /**
   * The active legal holds that reach a subject: a tenant or subject hold
   * reaches all of it, identities too; a category hold (and the keys under
   * it) reaches the subject's records in that category.
   */
  async function holdsReaching(
    tx: Db,
    tenantId: string,
    subjectId: string,
    records: StoredRecord[],
  ) {
    const holds = await listHolds(tx, tenantId, { active: true });
    const covers = (hold: LegalHold, category: string) =>
      hold.scope === 'category' &&
      hold.target !== null &&
      (category === hold.target || category.startsWith(`${hold.target}.`));
    const categories = [...new Set(records.map((r) => r.category))];
    const whole = holds.filter(
      (h) => h.scope === 'tenant' || (h.scope === 'subject' && h.target === subjectId),
    );
    const onRecords = holds.filter((h) => categories.some((c) => covers(h, c)));
    return {
      whole,
      onRecords,
      holdOf: (category: string) => onRecords.find((h) => covers(h, category)),
    };
  }

  function heldConflict(holds: LegalHold[], doing: string): AppError {
    return new AppError(
      'conflict',
      `The subject is under a legal hold; release the hold before ${doing}`,
      {
        details: holds.map((h) => ({
          path: 'subjectId',
          message: `held by ${h.id} (${h.scope}): ${h.reason}`,
        })),
      },
    );
  }

  /**
   * Erasure: the subject's data key is destroyed first, so every copy of the
   * ciphertext (replicas, dumps, backups) is unreadable from that moment;
   * then the rows go. The subject row stays as a tombstone (id, kind, status,
   * time) so decisions answer `erased` and nothing is re-created by mistake.
   *
   * A legal hold outranks erasure (Art. 17(3)(e)): a subject held by a tenant
   * or subject hold, or with records in a held category, is not erased.
   * Holds are placed and released under the tenant's retention lock, taken
   * here first, so no hold appears between the check and the commit.
   */
  async function erase(
    ctx: VaultContext,
    subjectId: string,
    options: { rightsRequestId?: string } = {},
  ) {
    return db.transaction().execute(async (tx) => {
      await lockTenantRetention(tx, ctx.tenantId);
      const subject = await findSubject(tx, ctx.tenantId, subjectId, { forUpdate: true });
      if (!subject) throw notFound('Subject');
      if (subject.status !== 'erased') {
        const holds = await holdsReaching(
          tx,
          ctx.tenantId,
          subjectId,
          await listRecords(tx, ctx.tenantId, subjectId),
        );
        const blocking = [...holds.whole, ...holds.onRecords].sort((a, b) =>
          a.id.localeCompare(b.id),
        );
        if (blocking.length > 0) throw heldConflict(blocking, 'erasing');
      }
      if (subject.status === 'erased')
        return {
          subjectId,
          erasedAt: subject.erasedAt ?? subject.updatedAt,
          records: 0,
          identities: 0,
          history: 0,
        };
      const at = now();
      await subjectKeys.destroy(tx, ctx.tenantId, subjectId, at);
      const identities = await deleteIdentities(tx, ctx.tenantId, subjectId);
      const deleted = await deleteSubjectData(tx, ctx.tenantId, subjectId);
      await deletePurposeStates(tx, ctx.tenantId, subjectId);
      // The consent ledger forgets the person too, the subjects merged into
      // this one included (their events stay under their own ids).
      await forgetSubjects(
        tx,
        ctx.tenantId,
        await listMergedSubjectIds(tx, ctx.tenantId, subjectId),
        at,
      );
      await updateSubject(
        tx,
        ctx.tenantId,
        subjectId,
        {
          status: 'erased',
          erasedAt: at,
          pseudonym: null,
          retainedCategories: null,
          restrictedAt: null,
          restrictionGround: null,
          lastActivityAt: null,
          relationshipStartedAt: null,
          relationshipEndedAt: null,
          contractEndedAt: null,
          roleEndedAt: null,
          accountDeletedAt: null,
        },
        at,
      );
      await audit.record(
        tx,
        event(ctx, {
          action: 'subject.erased',
          subjectId,
          outcome: 'success',
          payload: options.rightsRequestId ? { rightsRequestId: options.rightsRequestId } : {},
        }),
      );
      return {
        subjectId,
        erasedAt: at,
        records: deleted.records,
        identities,
        history: deleted.history,
      };
    });
  }

  /**
   * The subject's pseudonym, worked out before a pseudonymisation's
   * transaction: the first use of the blind index in a process reads its key
   * from the database, and inside the transaction that read would wait for the
   * transaction's own connection on the embedded database (one connection),
   * for ever.
   */
  function pseudonymOf(tenantId: string, subjectId: string): Promise<string> {
    return blindIndex.pseudonym(tenantId, subjectId);
  }

  /** The categories a pseudonymisation keeps: the caller's, else what the register keeps. */
  async function keepPlan(tenantId: string, keepCategories: string[] | undefined) {
    const policy = await policies.current(tenantId);
    const keep = keepCategories ?? keptByRegister(policy);
    const unknown = keep.filter((c) => !policy.categoryKeys.has(c));
    if (unknown.length > 0) {
      throw invalid('keepCategories names categories the register does not have', [
        {
          path: 'body.keepCategories',
          message: `unknown: ${unknown.join(', ')}; allowed: ${list(policy.categoryKeys)}`,
        },
      ]);
    }
    return { policy, keep };
  }

  /**
   * Pseudonymisation: the identities go (the subject can no longer be found by
   * them) and the subject is known by a stable pseudonym; the records the
   * register keeps (statutory keeps, retention rules whose action is
   * pseudonymize, or categories the caller names) stay, sealed as before, and
   * so do records in a category under a legal hold, whatever the caller
   * names; everything else is deleted. A tenant or subject hold refuses it
   * (409), as it refuses erasure: the identities are what such a hold keeps.
   */
  async function pseudonymize(
    ctx: VaultContext,
    subjectId: string,
    options: { keepCategories?: string[]; rightsRequestId?: string } = {},
  ) {
    const { policy, keep } = await keepPlan(ctx.tenantId, options.keepCategories);
    const pseudonym = await pseudonymOf(ctx.tenantId, subjectId);
    return db.transaction().execute(async (tx) => {
      // Holds are placed under this lock: none appears between the check and the commit.
      await lockTenantRetention(tx, ctx.tenantId);
      const subject = await liveSubject(tx, ctx, subjectId, { forUpdate: true });
      const records = await listRecords(tx, ctx.tenantId, subjectId);
      const holds = await holdsReaching(tx, ctx.tenantId, subjectId, records);
      if (holds.whole.length > 0) throw heldConflict(holds.whole, 'pseudonymising');
      return pseudonymizeLocked(tx, ctx, subject, records, {
        policy,
        keep,
        pseudonym,
        holdOf: holds.holdOf,
        rightsRequestId: options.rightsRequestId,
      });
    });
  }

  /**
   * Retention's pseudonymisation: like `pseudonymize`, but a subject any
   * active hold reaches (tenant, subject, or a held category among its
   * records, as erasure refuses it) is left as it is and reported `held`
   * rather than failing the run; a subject erased or merged meanwhile is
   * `gone`. Holds are read under the tenant's retention lock.
   */
  async function pseudonymizeUnlessHeld(
    ctx: VaultContext,
    subjectId: string,
    options: { keepCategories?: string[] } = {},
  ): Promise<{ outcome: 'pseudonymized' | 'held' | 'gone' }> {
    const { policy, keep } = await keepPlan(ctx.tenantId, options.keepCategories);
    const pseudonym = await pseudonymOf(ctx.tenantId, subjectId);
    return db.transaction().execute(async (tx) => {
      await lockTenantRetention(tx, ctx.tenantId);
      const subject = await findSubject(tx, ctx.tenantId, subjectId, { forUpdate: true });
      if (!subject || subject.status === 'erased' || subject.status === 'merged')
        return { outcome: 'gone' as const };
      const records = await listRecords(tx, ctx.tenantId, subjectId);
      const holds = await holdsReaching(tx, ctx.tenantId, subjectId, records);
      if (holds.whole.length + holds.onRecords.length > 0) return { outcome: 'held' as const };
      await pseudonymizeLocked(tx, ctx, subject, records, {
        policy,
        keep,
        pseudonym,
        holdOf: holds.holdOf,
        rightsRequestId: undefined,
      });
      return { outcome: 'pseudonymized' as const };
    });
  }

  /** Pseudonymises a subject whose row the caller has locked and whose holds it has checked. */
  async function pseudonymizeLocked(
    tx: Db,
    ctx: VaultContext,
    subject: Subject,
    records: StoredRecord[],
    plan: {
      policy: Policy;
      keep: string[];
      /** From pseudonymOf, before the transaction. */
      pseudonym: string;
      holdOf: (category: string) => LegalHold | undefined;
      rightsRequestId: string | undefined;
    },
  ) {
    const { policy, keep, holdOf } = plan;
    const subjectId = subject.id;
    const kept = [
      ...new Set(
        records
          .map((r) => r.category)
          .filter((c) => holdOf(c) !== undefined || coveredBy(c, keep, policy.categoryParent)),
      ),
    ];
    const identities = await deleteIdentities(tx, ctx.tenantId, subjectId);
    const deleted = await deleteSubjectData(tx, ctx.tenantId, subjectId, {
      keepCategories: kept,
    });
    // The consent ledger keeps the state decisions need, not where the person was.
    await forgetAddresses(
      tx,
      ctx.tenantId,
      await listMergedSubjectIds(tx, ctx.tenantId, subjectId),
    );
    const at = now();
    const pseudonym = subject.pseudonym ?? plan.pseudonym;
    await updateSubject(
      tx,
      ctx.tenantId,
      subjectId,
      { status: 'pseudonymized', pseudonym, retainedCategories: kept },
      at,
    );
    const retained = kept.map((category) => {
      const hold = holdOf(category);
      const byRegister = coveredBy(category, keep, policy.categoryParent)
        ? reasonKept(policy, category)
        : null;
      if (!hold) return { category, reason: byRegister ?? 'kept as requested' };
      // The hold is named even when the register keeps the category too: it outlasts that.
      const held = `legal hold ${hold.id}: ${hold.reason}`;
      return { category, reason: byRegister ? `${held}; ${byRegister}` : held };
    });
    await audit.record(
      tx,
      event(ctx, {
        action: 'subject.pseudonymized',
        subjectId,
        outcome: 'success',
        payload: {
          retained,
          ...(plan.rightsRequestId ? { rightsRequestId: plan.rightsRequestId } : {}),
        },
      }),
    );
    return {
      subjectId,
      pseudonym,
      pseudonymizedAt: at,
      identities,
      recordsDeleted: deleted.records,
      retained,
    };
  }

  /**
   * Merge: everything of `from` is re-sealed under the key of `into` and moved
   * there; `from` keeps a tombstone pointing to `into`, its key is destroyed,
   * and the merge is kept as history on both.
   */
  async function merge(ctx: VaultContext, fromId: string, intoId: string) {
    if (fromId === intoId)
      throw invalid('A subject cannot be merged into itself', [
        { path: 'body.from', message: 'must differ from into' },
      ]);
    return db.transaction().execute(async (tx) => {
      const from = await liveSubject(tx, ctx, fromId, { forUpdate: true });
      const into = await liveSubject(tx, ctx, intoId, { forUpdate: true });
      const fromKey = await liveKey(tx, ctx.tenantId, from.id);
      const intoKey = await liveKey(tx, ctx.tenantId, into.id);
      const [records, identityRows, history, states] = await Promise.all([
        listRecords(tx, ctx.tenantId, from.id),
        listIdentities(tx, ctx.tenantId, from.id),
        listHistory(tx, ctx.tenantId, from.id),
        listPurposeStates(tx, ctx.tenantId, from.id),
      ]);
      const identities = openIdentities(fromKey, ctx.tenantId, from.id, identityRows);
      const at = now();
      await deleteIdentities(tx, ctx.tenantId, from.id);
      await deleteSubjectData(tx, ctx.tenantId, from.id);
      await writeIdentities(
        tx,
        ctx,
        into.id,
        identities.map(({ category: _c, ...i }) => i),
        identityRows.map((r) => r.blindIndex),
        intoKey,
      );
      const moved = await insertRecords(
        tx,
        records.map((r) => {
          const opened = openValue(
            fromKey,
            r.sealed,
            r.source,
            recordAad(ctx.tenantId, from.id, r.id, r.version),
          );
          return {
            tenantId: ctx.tenantId,
            id: r.id,
            subjectId: into.id,
            category: r.category,
            source: r.source,
            purposes: r.purposes,
            sealed: sealValue(
              intoKey,
              opened.value,
              opened.source,
              recordAad(ctx.tenantId, into.id, r.id, r.version),
            ),
            collectedAt: r.collectedAt,
            at,
          };
        }),
      );
      // insertRecords starts versions at 1; keep each record's own version.
      for (const r of records) {
        if (r.version !== 1)
          await tx
            .updateTable('vaultRecords')
            .set({ version: r.version })
            .where('tenantId', '=', ctx.tenantId)
            .where('id', '=', r.id)
            .execute();
      }
      for (const h of history) {
        const opened = openValue(
          fromKey,
          h.sealed,
          h.source,
          recordAad(ctx.tenantId, from.id, h.recordId, h.version),
        );
        const reason = open(
          fromKey,
          h.sealedReason,
          reasonAad(ctx.tenantId, from.id, h.recordId, h.version),
        ).toString('utf8');
        await insertHistory(tx, {
          tenantId: ctx.tenantId,
          recordId: h.recordId,
          version: h.version,
          subjectId: into.id,
          source: h.source,
          sealed: sealValue(
            intoKey,
            opened.value,
            opened.source,
            recordAad(ctx.tenantId, into.id, h.recordId, h.version),
          ),
          sealedReason: seal(
            intoKey,
            reason,
            reasonAad(ctx.tenantId, into.id, h.recordId, h.version),
          ),
          changedBy: h.changedBy,
          changedAt: h.changedAt,
        });
      }
      // Consent follows the person. The ledger's events and receipts stay where
      // they were recorded (append-only, signed); its current state moves, so a
      // later choice about either id (an unsubscribe link already in a mailbox,
      // a visitor linked to `from`) lands on `into`, and `into` sees it all.
      const ledger = await carryConsentState(tx, ctx.tenantId, from.id, into.id, at);
      const intoStates = new Map(
        (await listPurposeStates(tx, ctx.tenantId, into.id)).map((s) => [s.purpose, s]),
      );
      const fromStates = new Map(states.map((s) => [s.purpose, s]));
      const purposes = new Set([
        ...fromStates.keys(),
        ...[...ledger.keys()].filter((p) => !p.startsWith(cookiePurposePrefix)),
      ]);
      for (const purpose of purposes) {
        await setPurposeState(
          tx,
          ctx.tenantId,
          into.id,
          purpose,
          mergedPurposeState(intoStates.get(purpose), fromStates.get(purpose), ledger.get(purpose)),
          at,
        );
      }
      // A restriction of all processing is never dropped by a merge either;
      // the subject shows the earlier of the two (restricted since then).
      if (from.restrictedAt && (!into.restrictedAt || from.restrictedAt < into.restrictedAt))
        await updateSubject(
          tx,
          ctx.tenantId,
          into.id,
          { restrictedAt: from.restrictedAt, restrictionGround: from.restrictionGround },
          at,
        );
      await deletePurposeStates(tx, ctx.tenantId, from.id);
      // The consent ledger's events sealed under from's key are sealed under
      // into's (the events stay from's: the ledger is append-only).
      for (const event of await listSealedFor(tx, ctx.tenantId, from.id)) {
        const whereabouts = openWhereabouts(
          fromKey,
          { tenantId: ctx.tenantId, eventId: event.id, keyOwner: from.id },
          event.sealed,
        );
        const sealed = sealWhereabouts(
          intoKey,
          { tenantId: ctx.tenantId, eventId: event.id, keyOwner: into.id },
          whereabouts,
        );
        await resealEvent(tx, ctx.tenantId, event.id, sealed, into.id);
      }
      await subjectKeys.destroy(tx, ctx.tenantId, from.id, at);
      await updateSubject(tx, ctx.tenantId, from.id, { status: 'merged', mergedInto: into.id }, at);
      const mergeId = newId('subjectMerge');
      await insertMerge(tx, {
        tenantId: ctx.tenantId,
        id: mergeId,
        fromSubjectId: from.id,
        intoSubjectId: into.id,
        identitiesMoved: identities.length,
        recordsMoved: moved.length,
        mergedBy: actorLabel(ctx),
        mergedAt: at,
      });
      await audit.record(
        tx,
        event(ctx, {
          action: 'subject.merged',
          subjectId: into.id,
          outcome: 'success',
          payload: { mergedSubjectId: from.id },
        }),
      );
      return {
        mergeId,
        from: from.id,
        into: into.id,
        identitiesMoved: identities.length,
        recordsMoved: moved.length,
        mergedAt: at,
      };
    });
  }

  /**
   * Moves the consent ledger's current state of `from` to `into`: a purpose
   * and medium `into` has no state for moves as it is; where both have one,
   * the later consent wins and an objection on either side stays
   * (`mergeConsent`). Visitors linked to `from` are linked to `into`. Returns
   * the state that now stands for each purpose as a whole (medium `all`) that
   * `from` had one for.
   */
  async function carryConsentState(
    tx: Db,
    tenantId: string,
    fromId: string,
    intoId: string,
    at: Date,
  ): Promise<Map<string, ConsentStateRecord>> {
    const intoStates = new Map(
      (await listStates(tx, tenantId, intoId, { forUpdate: true })).map((s) => [
        `${s.purpose} ${s.medium}`,
        s,
      ]),
    );
    const whole = new Map<string, ConsentStateRecord>();
    for (const state of await listStates(tx, tenantId, fromId, { forUpdate: true })) {
      const existing = intoStates.get(`${state.purpose} ${state.medium}`);
      const moved = { ...state, holderId: intoId };
      const next = existing ? { ...mergeConsent(existing, moved), updatedAt: at } : moved;
      await upsertState(tx, tenantId, next);
      if (state.medium === 'all') whole.set(state.purpose, next);
    }
    await deleteStates(tx, tenantId, fromId);
    await relinkVisitors(tx, tenantId, fromId, intoId);
    return whole;
  }

  return {
    findOrCreate,
    lookup,
    get,
    update,
    addIdentities,
    writeRecords,
    rectify,
    readForPurpose,
    exportSubject,
    erase,
    pseudonymize,
    pseudonymizeUnlessHeld,
    merge,
  };
}

export type VaultService = ReturnType<typeof createVaultService>;

function toMeta(record: StoredRecord): RecordMeta {
  return {
    id: record.id,
    subjectId: record.subjectId,
    category: record.category,
    source: { type: record.source as RecordSource['type'] },
    purposes: record.purposes,
    version: record.version,
    collectedAt: record.collectedAt,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
  };
}

/** Categories the register says survive an erasure: statutory keeps and rules that pseudonymize. */
export function keptByRegister(policy: Policy): string[] {
  const retention = policy.register?.retention;
  if (!retention) return [];
  return [
    ...new Set([
      ...retention.statutoryKeeps.flatMap((k) => k.categories),
      ...retention.rules
        .filter((r) => r.action === 'pseudonymize' || r.alternativeAction === 'pseudonymize')
        .flatMap((r) => r.categories),
      ...(retention.auditLog?.keeps ?? []),
    ]),
  ];
}

function reasonKept(policy: Policy, category: string): string {
  const retention = policy.register?.retention;
  const keep = retention?.statutoryKeeps.find((k) =>
    coveredBy(category, k.categories, policy.categoryParent),
  );
  if (keep) return `statutory: ${keep.law} (${keep.duration} after ${keep.trigger})`;
  const rule = retention?.rules.find((r) =>
    coveredBy(category, r.categories, policy.categoryParent),
  );
  if (rule) return `retention rule ${rule.key}: pseudonymised rather than deleted`;
  if (retention?.auditLog?.keeps.some((k) => coveredBy(category, [k], policy.categoryParent)))
    return 'kept with the audit log';
  return 'kept as requested';
}

export type { Decision };
