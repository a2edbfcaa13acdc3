import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import type { SubjectFacts, SubjectStatus } from '../decisions/decide.js';

/**
 * SQL for subjects, identities and records. Rows become domain objects here;
 * sealed columns stay Buffers and are opened by the service, which holds the keys.
 */
export type Subject = SubjectFacts & {
  tenantId: string;
  mergedInto: string | null;
  pseudonym: string | null;
  restrictionGround: string | null;
  createdAt: Date;
  updatedAt: Date;
  erasedAt: Date | null;
};

export type SubjectTimestamps = Pick<
  SubjectFacts,
  | 'lastActivityAt'
  | 'relationshipStartedAt'
  | 'relationshipEndedAt'
  | 'contractEndedAt'
  | 'roleEndedAt'
  | 'accountDeletedAt'
>;

export type StoredRecord = {
  id: string;
  subjectId: string;
  category: string;
  source: string;
  purposes: string[];
  sealed: Buffer;
  version: number;
  collectedAt: Date;
  createdAt: Date;
  updatedAt: Date;
};

export type StoredHistory = {
  recordId: string;
  version: number;
  source: string;
  sealed: Buffer;
  sealedReason: Buffer;
  changedBy: string;
  changedAt: Date;
};

const subjectColumns = [
  'tenantId',
  'id',
  'kind',
  'status',
  'mergedInto',
  'pseudonym',
  'retainedCategories',
  'restrictedAt',
  'restrictionGround',
  'lastActivityAt',
  'relationshipStartedAt',
  'relationshipEndedAt',
  'contractEndedAt',
  'roleEndedAt',
  'accountDeletedAt',
  'createdAt',
  'updatedAt',
  'erasedAt',
] as const;

type SubjectSelect = {
  [K in (typeof subjectColumns)[number]]: K extends 'status' ? string : unknown;
};

function toSubject(row: SubjectSelect): Subject {
  return { ...(row as unknown as Subject), status: row.status as SubjectStatus };
}

/** Binds a list as one array parameter: one statement whatever its length. */
export const anyOf = (values: readonly string[]) =>
  sql<string>`any(${sql.val([...values])}::text[])`;

export async function insertSubject(
  db: Db,
  row: { tenantId: string; id: string; kind: string; at: Date },
): Promise<Subject> {
  const inserted = await db
    .insertInto('subjects')
    .values({
      tenantId: row.tenantId,
      id: row.id,
      kind: row.kind,
      createdAt: row.at,
      updatedAt: row.at,
    })
    .returning(subjectColumns)
    .executeTakeFirstOrThrow();
  return toSubject(inserted);
}

export async function findSubject(
  db: Db,
  tenantId: string,
  id: string,
  options: { forUpdate?: boolean; forShare?: boolean } = {},
): Promise<Subject | undefined> {
  let query = db
    .selectFrom('subjects')
    .select(subjectColumns)
    .where('tenantId', '=', tenantId)
    .where('id', '=', id);
  if (options.forUpdate) query = query.forUpdate();
  else if (options.forShare) query = query.forShare();
  const row = await query.executeTakeFirst();
  return row ? toSubject(row) : undefined;
}

/** How many merges in a row are followed (merges of merged subjects). */
export const MERGE_HOPS = 8;

/**
 * The subject a named one is now: a merged subject is followed to the subject
 * it was merged into (chains followed), each row read with the lock asked for.
 * Undefined for an unknown id. The subject returned may be erased.
 */
export async function findCurrentSubject(
  db: Db,
  tenantId: string,
  id: string,
  options: { forUpdate?: boolean; forShare?: boolean } = {},
): Promise<Subject | undefined> {
  let subject = await findSubject(db, tenantId, id, options);
  for (let hop = 0; subject?.status === 'merged' && subject.mergedInto; hop++) {
    if (hop === MERGE_HOPS)
      throw new Error(`subject ${id}: more than ${MERGE_HOPS} merges to follow`);
    subject = await findSubject(db, tenantId, subject.mergedInto, options);
  }
  return subject;
}

/**
 * The subject and every subject merged into it, directly or through merges of
 * merged subjects (as many hops as findCurrentSubject follows).
 */
export async function listMergedSubjectIds(
  db: Db,
  tenantId: string,
  id: string,
): Promise<string[]> {
  const ids = [id];
  let reached = [id];
  for (let hop = 0; hop < MERGE_HOPS && reached.length > 0; hop++) {
    const rows = await db
      .selectFrom('subjects')
      .select('id')
      .where('tenantId', '=', tenantId)
      .where('status', '=', 'merged')
      .where('mergedInto', '=', anyOf(reached))
      .execute();
    reached = rows.map((r) => r.id);
    ids.push(...reached);
  }
  return ids;
}

export async function findSubjects(
  db: Db,
  tenantId: string,
  ids: readonly string[],
): Promise<Subject[]> {
  if (ids.length === 0) return [];
  const rows = await db
    .selectFrom('subjects')
    .select(subjectColumns)
    .where('tenantId', '=', tenantId)
    .where('id', '=', anyOf(ids))
    .execute();
  return rows.map(toSubject);
}

export async function updateSubject(
  db: Db,
  tenantId: string,
  id: string,
  changes: Partial<SubjectTimestamps> & {
    kind?: string;
    status?: SubjectStatus;
    mergedInto?: string | null;
    pseudonym?: string | null;
    retainedCategories?: string[] | null;
    restrictedAt?: Date | null;
    restrictionGround?: string | null;
    erasedAt?: Date | null;
  },
  at: Date,
): Promise<Subject | undefined> {
  const row = await db
    .updateTable('subjects')
    .set({ ...changes, updatedAt: at })
    .where('tenantId', '=', tenantId)
    .where('id', '=', id)
    .returning(subjectColumns)
    .executeTakeFirst();
  return row ? toSubject(row) : undefined;
}

// ---- identities

export async function findSubjectIdsByIndex(
  db: Db,
  tenantId: string,
  indexes: Buffer[],
): Promise<Map<string, string>> {
  if (indexes.length === 0) return new Map();
  const rows = await db
    .selectFrom('subjectIdentities')
    .select(['blindIndex', 'subjectId'])
    .where('tenantId', '=', tenantId)
    // Hex text in one array parameter: bytea arrays do not bind the same way on every driver.
    .where(
      'blindIndex',
      '=',
      sql<Buffer>`any(array(select decode(h, 'hex') from unnest(${sql.val(indexes.map((i) => i.toString('hex')))}::text[]) h))`,
    )
    .execute();
  // PGlite returns bytea as a Uint8Array, node-postgres as a Buffer.
  return new Map(rows.map((r) => [Buffer.from(r.blindIndex).toString('hex'), r.subjectId]));
}

export async function insertIdentities(
  db: Db,
  rows: { tenantId: string; blindIndex: Buffer; subjectId: string; kind: string; sealed: Buffer }[],
): Promise<number> {
  if (rows.length === 0) return 0;
  const inserted = await db
    .insertInto('subjectIdentities')
    .values(rows)
    .onConflict((oc) => oc.columns(['tenantId', 'blindIndex']).doNothing())
    .returning('subjectId')
    .execute();
  return inserted.length;
}

export async function listIdentities(db: Db, tenantId: string, subjectId: string) {
  return db
    .selectFrom('subjectIdentities')
    .select(['blindIndex', 'kind', 'sealed', 'createdAt'])
    .where('tenantId', '=', tenantId)
    .where('subjectId', '=', subjectId)
    .orderBy('createdAt')
    .execute();
}

export async function deleteIdentities(
  db: Db,
  tenantId: string,
  subjectId: string,
): Promise<number> {
  const result = await db
    .deleteFrom('subjectIdentities')
    .where('tenantId', '=', tenantId)
    .where('subjectId', '=', subjectId)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

// ---- records

const recordColumns = [
  'id',
  'subjectId',
  'category',
  'source',
  'purposes',
  'sealed',
  'version',
  'collectedAt',
  'createdAt',
  'updatedAt',
] as const;

export async function insertRecords(
  db: Db,
  rows: {
    tenantId: string;
    id: string;
    subjectId: string;
    category: string;
    source: string;
    purposes: string[];
    sealed: Buffer;
    collectedAt: Date;
    at: Date;
  }[],
): Promise<StoredRecord[]> {
  if (rows.length === 0) return [];
  return db
    .insertInto('vaultRecords')
    .values(rows.map(({ at, ...r }) => ({ ...r, createdAt: at, updatedAt: at })))
    .returning(recordColumns)
    .execute();
}

export async function listRecords(
  db: Db,
  tenantId: string,
  subjectId: string,
  categories?: readonly string[],
): Promise<StoredRecord[]> {
  let query = db
    .selectFrom('vaultRecords')
    .select(recordColumns)
    .where('tenantId', '=', tenantId)
    .where('subjectId', '=', subjectId);
  if (categories) query = query.where('category', '=', anyOf(categories));
  return query.orderBy('id').execute();
}

export async function findRecord(
  db: Db,
  tenantId: string,
  subjectId: string,
  recordId: string,
): Promise<StoredRecord | undefined> {
  return db
    .selectFrom('vaultRecords')
    .select(recordColumns)
    .where('tenantId', '=', tenantId)
    .where('subjectId', '=', subjectId)
    .where('id', '=', recordId)
    .forUpdate()
    .executeTakeFirst();
}

export async function updateRecordValue(
  db: Db,
  tenantId: string,
  recordId: string,
  changes: { sealed: Buffer; version: number; source: string; collectedAt: Date; at: Date },
): Promise<StoredRecord> {
  return db
    .updateTable('vaultRecords')
    .set({
      sealed: changes.sealed,
      version: changes.version,
      source: changes.source,
      collectedAt: changes.collectedAt,
      updatedAt: changes.at,
    })
    .where('tenantId', '=', tenantId)
    .where('id', '=', recordId)
    .returning(recordColumns)
    .executeTakeFirstOrThrow();
}

export async function insertHistory(
  db: Db,
  row: {
    tenantId: string;
    recordId: string;
    version: number;
    subjectId: string;
    source: string;
    sealed: Buffer;
    sealedReason: Buffer;
    changedBy: string;
    changedAt: Date;
  },
): Promise<void> {
  await db.insertInto('vaultRecordHistory').values(row).execute();
}

export async function listHistory(
  db: Db,
  tenantId: string,
  subjectId: string,
): Promise<StoredHistory[]> {
  return db
    .selectFrom('vaultRecordHistory')
    .select(['recordId', 'version', 'source', 'sealed', 'sealedReason', 'changedBy', 'changedAt'])
    .where('tenantId', '=', tenantId)
    .where('subjectId', '=', subjectId)
    .orderBy('recordId')
    .orderBy('version')
    .execute();
}

/** Erasure: every row of the subject's personal data, by index, so its cost is the rows it deletes. */
export async function deleteSubjectData(
  db: Db,
  tenantId: string,
  subjectId: string,
  options: { keepCategories?: readonly string[] } = {},
): Promise<{ records: number; history: number }> {
  const keep = options.keepCategories ?? [];
  let records = db
    .deleteFrom('vaultRecords')
    .where('tenantId', '=', tenantId)
    .where('subjectId', '=', subjectId);
  if (keep.length > 0)
    records = records.where('category', '<>', sql<string>`all(${sql.val([...keep])}::text[])`);
  const deleted = await records.returning('id').execute();
  let history = db
    .deleteFrom('vaultRecordHistory')
    .where('tenantId', '=', tenantId)
    .where('subjectId', '=', subjectId);
  if (keep.length > 0) {
    if (deleted.length === 0) return { records: 0, history: 0 };
    history = history.where('recordId', '=', anyOf(deleted.map((d) => d.id)));
  }
  const h = await history.executeTakeFirst();
  return { records: deleted.length, history: Number(h.numDeletedRows) };
}

/** The latest collected-at per category, per subject, for retention triggers. */
export async function lastCollectedByCategory(
  db: Db,
  tenantId: string,
  subjectIds: readonly string[],
): Promise<Map<string, Record<string, Date>>> {
  const out = new Map<string, Record<string, Date>>();
  if (subjectIds.length === 0) return out;
  const rows = await db
    .selectFrom('vaultRecords')
    .select(['subjectId', 'category', (eb) => eb.fn.max('collectedAt').as('latest')])
    .where('tenantId', '=', tenantId)
    .where('subjectId', '=', anyOf(subjectIds))
    .groupBy(['subjectId', 'category'])
    .execute();
  for (const row of rows) {
    const entry = out.get(row.subjectId) ?? {};
    entry[row.category] = new Date(row.latest as Date);
    out.set(row.subjectId, entry);
  }
  return out;
}

export async function insertMerge(
  db: Db,
  row: {
    tenantId: string;
    id: string;
    fromSubjectId: string;
    intoSubjectId: string;
    identitiesMoved: number;
    recordsMoved: number;
    mergedBy: string;
    mergedAt: Date;
  },
): Promise<void> {
  await db.insertInto('subjectMerges').values(row).execute();
}

export async function listMerges(db: Db, tenantId: string, subjectId: string) {
  return db
    .selectFrom('subjectMerges')
    .select([
      'id',
      'fromSubjectId',
      'intoSubjectId',
      'identitiesMoved',
      'recordsMoved',
      'mergedBy',
      'mergedAt',
    ])
    .where('tenantId', '=', tenantId)
    .where((eb) =>
      eb.or([eb('intoSubjectId', '=', subjectId), eb('fromSubjectId', '=', subjectId)]),
    )
    .orderBy('mergedAt')
    .execute();
}
