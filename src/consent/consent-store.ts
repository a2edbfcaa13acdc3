import { destroySubjectKeys } from '../crypto/subject-keys.js';
import type { Db } from '../db/database.js';
import type { ConsentAction, ConsentChannel, ConsentValue } from './consent-model.js';

/**
 * SQL of the consent ledger. consent_events is only ever inserted into, but
 * for erasure and pseudonymisation, which clear an event's address and agent
 * (`forgetSubjects`, `forgetAddresses`);
 * consent_state is the derived current state, written in the same transaction.
 */

export type ConsentEvent = {
  id: string;
  holderId: string;
  purpose: string;
  medium: string;
  action: ConsentAction;
  channel: ConsentChannel;
  registerVersion: string | null;
  textHash: string | null;
  ipAnonymised: string | null;
  userAgent: string | null;
  receiptId: string;
  at: Date;
};

/** An event as stored: its address and agent sealed (`sealed`, under the data key of `sealedFor`), or in clear if written before that. */
export type StoredConsentEvent = ConsentEvent & { sealed: Buffer | null; sealedFor: string | null };

export type ConsentStateRecord = {
  holderId: string;
  purpose: string;
  medium: string;
  consent: ConsentValue | null;
  consentAt: Date | null;
  objectedAt: Date | null;
  channel: string;
  registerVersion: string | null;
  textHash: string | null;
  lastEventId: string;
  renewalRequiredAt: Date | null;
  renewalRegisterVersion: string | null;
  updatedAt: Date;
};

export type Visitor = {
  id: string;
  subjectId: string | null;
  linkedAt: Date | null;
  createdAt: Date;
};

const eventColumns = [
  'id',
  'holderId',
  'purpose',
  'medium',
  'action',
  'channel',
  'registerVersion',
  'textHash',
  'ipAnonymised',
  'userAgent',
  'sealed',
  'sealedFor',
  'receiptId',
  'at',
] as const;

const stateColumns = [
  'holderId',
  'purpose',
  'medium',
  'consent',
  'consentAt',
  'objectedAt',
  'channel',
  'registerVersion',
  'textHash',
  'lastEventId',
  'renewalRequiredAt',
  'renewalRegisterVersion',
  'updatedAt',
] as const;

export async function insertVisitor(db: Db, tenantId: string, id: string, at: Date): Promise<void> {
  await db.insertInto('consentVisitors').values({ tenantId, id, createdAt: at }).execute();
}

export async function findVisitor(
  db: Db,
  tenantId: string,
  id: string,
): Promise<Visitor | undefined> {
  return db
    .selectFrom('consentVisitors')
    .select(['id', 'subjectId', 'linkedAt', 'createdAt'])
    .where('tenantId', '=', tenantId)
    .where('id', '=', id)
    .executeTakeFirst();
}

export async function linkVisitor(
  db: Db,
  tenantId: string,
  visitorId: string,
  subjectId: string,
  at: Date,
): Promise<void> {
  await db
    .updateTable('consentVisitors')
    .set({ subjectId, linkedAt: at })
    .where('tenantId', '=', tenantId)
    .where('id', '=', visitorId)
    .execute();
}

export async function visitorsOf(db: Db, tenantId: string, subjectId: string): Promise<string[]> {
  const rows = await db
    .selectFrom('consentVisitors')
    .select('id')
    .where('tenantId', '=', tenantId)
    .where('subjectId', '=', subjectId)
    .execute();
  return rows.map((r) => r.id);
}

/** A merge: the visitors linked to `from` are linked to `into`, keeping when they were linked. */
export async function relinkVisitors(
  db: Db,
  tenantId: string,
  fromSubjectId: string,
  intoSubjectId: string,
): Promise<void> {
  await db
    .updateTable('consentVisitors')
    .set({ subjectId: intoSubjectId })
    .where('tenantId', '=', tenantId)
    .where('subjectId', '=', fromSubjectId)
    .execute();
}

export async function insertEvents(
  db: Db,
  tenantId: string,
  events: (StoredConsentEvent & { requestId: string | null })[],
): Promise<void> {
  if (events.length === 0) return;
  await db
    .insertInto('consentEvents')
    .values(events.map((e) => ({ tenantId, ...e })))
    .execute();
}

export async function listEvents(
  db: Db,
  tenantId: string,
  holderIds: readonly string[],
  filter: { purpose?: string | undefined; after?: string | undefined; limit: number },
): Promise<StoredConsentEvent[]> {
  let query = db
    .selectFrom('consentEvents')
    .select(eventColumns)
    .where('tenantId', '=', tenantId)
    .where('holderId', 'in', holderIds)
    .orderBy('id')
    .limit(filter.limit);
  if (filter.purpose) query = query.where('purpose', '=', filter.purpose);
  if (filter.after) query = query.where('id', '>', filter.after);
  return (await query.execute()) as StoredConsentEvent[];
}

/** The events sealed under one key's owner, for sealing them again under another's (a merge). */
export async function listSealedFor(
  db: Db,
  tenantId: string,
  keyOwner: string,
): Promise<{ id: string; sealed: Buffer }[]> {
  const rows = await db
    .selectFrom('consentEvents')
    .select(['id', 'sealed'])
    .where('tenantId', '=', tenantId)
    .where('sealedFor', '=', keyOwner)
    .where('sealed', 'is not', null)
    .execute();
  return rows.flatMap((r) => (r.sealed ? [{ id: r.id, sealed: r.sealed }] : []));
}

export async function resealEvent(
  db: Db,
  tenantId: string,
  id: string,
  sealed: Buffer,
  keyOwner: string,
): Promise<void> {
  await db
    .updateTable('consentEvents')
    .set({ sealed, sealedFor: keyOwner })
    .where('tenantId', '=', tenantId)
    .where('id', '=', id)
    .execute();
}

/** The holder's current states, locked for the rest of the transaction when `forUpdate`. */
export async function listStates(
  db: Db,
  tenantId: string,
  holderId: string,
  options: { forUpdate?: boolean } = {},
): Promise<ConsentStateRecord[]> {
  let query = db
    .selectFrom('consentState')
    .select(stateColumns)
    .where('tenantId', '=', tenantId)
    .where('holderId', '=', holderId)
    .orderBy('purpose')
    .orderBy('medium');
  if (options.forUpdate) query = query.forUpdate();
  return query.execute();
}

export async function upsertState(
  db: Db,
  tenantId: string,
  state: ConsentStateRecord,
): Promise<void> {
  const { holderId, purpose, medium, ...rest } = state;
  await db
    .insertInto('consentState')
    .values({ tenantId, ...state })
    .onConflict((oc) => oc.columns(['tenantId', 'holderId', 'purpose', 'medium']).doUpdateSet(rest))
    .execute();
}

/** Removes a holder's current states (the events stay: the ledger is append-only). */
export async function deleteStates(db: Db, tenantId: string, holderId: string): Promise<void> {
  await db
    .deleteFrom('consentState')
    .where('tenantId', '=', tenantId)
    .where('holderId', '=', holderId)
    .execute();
}

/**
 * Erasure of a person (the erased subject and the subjects merged into it):
 * their current states and those of the visitors linked to them go (derived
 * from the events, which stay as the evidence of consent, Art. 7(1)), and
 * those events lose the anonymised address and the user agent, the two
 * fields about the person rather than the consent; the data keys of all of
 * them, which sealed those fields, are destroyed. The visitor rows stay:
 * they hold two random ids, and are how a banner token of the erased person
 * is recognised and answered as a stranger's.
 */
export async function forgetSubjects(
  db: Db,
  tenantId: string,
  subjectIds: readonly string[],
  at: Date,
): Promise<void> {
  if (subjectIds.length === 0) return;
  const holders = await holdersOf(db, tenantId, subjectIds);
  await db
    .deleteFrom('consentState')
    .where('tenantId', '=', tenantId)
    .where('holderId', 'in', holders)
    .execute();
  await clearAddresses(db, tenantId, holders);
  // The holders' data keys go too (the subjects' may be gone already): what
  // was sealed under them is then unreadable in every backup of the ledger.
  await destroySubjectKeys(db, tenantId, holders, at);
}

/**
 * Pseudonymisation: the events of these subjects and of the visitors linked
 * to them lose their address and agent; their state stays, for decisions.
 */
export async function forgetAddresses(
  db: Db,
  tenantId: string,
  subjectIds: readonly string[],
): Promise<void> {
  if (subjectIds.length === 0) return;
  await clearAddresses(db, tenantId, await holdersOf(db, tenantId, subjectIds));
}

/** The subjects and the visitors linked to them. */
async function holdersOf(
  db: Db,
  tenantId: string,
  subjectIds: readonly string[],
): Promise<string[]> {
  const visitors = await db
    .selectFrom('consentVisitors')
    .select('id')
    .where('tenantId', '=', tenantId)
    .where('subjectId', 'in', subjectIds)
    .execute();
  return [...subjectIds, ...visitors.map((v) => v.id)];
}

async function clearAddresses(db: Db, tenantId: string, holders: readonly string[]) {
  await db
    .updateTable('consentEvents')
    .set({ ipAnonymised: null, userAgent: null, sealed: null, sealedFor: null })
    .where('tenantId', '=', tenantId)
    .where('holderId', 'in', holders)
    .where((eb) =>
      eb.or([
        eb('ipAnonymised', 'is not', null),
        eb('userAgent', 'is not', null),
        eb('sealed', 'is not', null),
      ]),
    )
    .execute();
}

export async function insertReceipt(
  db: Db,
  tenantId: string,
  row: { id: string; holderId: string; receipt: string; signature: string; issuedAt: Date },
): Promise<void> {
  await db
    .insertInto('consentReceipts')
    .values({ tenantId, ...row })
    .execute();
}

export type StoredReceipt = {
  id: string;
  holderId: string;
  receipt: string;
  signature: string;
  issuedAt: Date;
};

export async function findReceipt(
  db: Db,
  tenantId: string,
  id: string,
): Promise<StoredReceipt | undefined> {
  return db
    .selectFrom('consentReceipts')
    .select(['id', 'holderId', 'receipt', 'signature', 'issuedAt'])
    .where('tenantId', '=', tenantId)
    .where('id', '=', id)
    .executeTakeFirst();
}

export async function listReceipts(
  db: Db,
  tenantId: string,
  holderIds: readonly string[],
  filter: { after?: string | undefined; limit: number },
): Promise<StoredReceipt[]> {
  let query = db
    .selectFrom('consentReceipts')
    .select(['id', 'holderId', 'receipt', 'signature', 'issuedAt'])
    .where('tenantId', '=', tenantId)
    .where('holderId', 'in', holderIds)
    .orderBy('id')
    .limit(filter.limit);
  if (filter.after) query = query.where('id', '>', filter.after);
  return query.execute();
}

/**
 * Marks consent given under another register version for renewal. Only
 * "given" consent needs renewing; a refusal or withdrawal stays as it is.
 */
export async function markStatesForRenewal(
  db: Db,
  tenantId: string,
  purposes: readonly string[],
  registerVersion: string,
  at: Date,
): Promise<number> {
  if (purposes.length === 0) return 0;
  const result = await db
    .updateTable('consentState')
    .set({ renewalRequiredAt: at, renewalRegisterVersion: registerVersion, updatedAt: at })
    .where('tenantId', '=', tenantId)
    .where('purpose', 'in', purposes)
    .where('consent', '=', 'given')
    .where((eb) =>
      eb.or([eb('registerVersion', 'is', null), eb('registerVersion', '!=', registerVersion)]),
    )
    .where((eb) =>
      eb.or([
        eb('renewalRegisterVersion', 'is', null),
        eb('renewalRegisterVersion', '!=', registerVersion),
      ]),
    )
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/**
 * Consent to `purpose` given before `cutoff` that still stands, a page at a
 * time in (holder, medium) order after `after`: the states that may be due to expire. A
 * visitor linked to a subject is left out: its choices were copied to the
 * subject, whose state expires in its place. So is an erased (or merged)
 * subject: nothing new is written about a person who asked to be forgotten.
 */
export async function givenBefore(
  db: Db,
  tenantId: string,
  purpose: string,
  cutoff: Date,
  page: { after: { holderId: string; medium: string } | null; limit: number },
): Promise<{ holderId: string; medium: string; consentAt: Date }[]> {
  let query = db
    .selectFrom('consentState as s')
    // The holders left out: linked visitors, and erased or merged subjects.
    .leftJoin('consentVisitors as linked', (join) =>
      join
        .onRef('linked.tenantId', '=', 's.tenantId')
        .onRef('linked.id', '=', 's.holderId')
        .on('linked.subjectId', 'is not', null),
    )
    .leftJoin('subjects as gone', (join) =>
      join
        .onRef('gone.tenantId', '=', 's.tenantId')
        .onRef('gone.id', '=', 's.holderId')
        .on('gone.status', 'in', ['erased', 'merged']),
    )
    .select(['s.holderId', 's.medium', 's.consentAt'])
    .where('s.tenantId', '=', tenantId)
    .where('s.purpose', '=', purpose)
    .where('s.consent', '=', 'given')
    .where('s.consentAt', '<', cutoff)
    .where('linked.id', 'is', null)
    .where('gone.id', 'is', null)
    .orderBy('s.holderId')
    .orderBy('s.medium')
    .limit(page.limit);
  const after = page.after;
  if (after)
    query = query.where((eb) =>
      eb.or([
        eb('s.holderId', '>', after.holderId),
        eb.and([eb('s.holderId', '=', after.holderId), eb('s.medium', '>', after.medium)]),
      ]),
    );
  const rows = await query.execute();
  return rows.map((r) => ({
    holderId: r.holderId,
    medium: r.medium,
    consentAt: new Date(r.consentAt as Date | string),
  }));
}
