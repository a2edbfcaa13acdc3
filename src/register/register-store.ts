import { type Selectable, sql } from 'kysely';
import type { Db } from '../db/database.js';
import type { RegisterVersionRow } from '../db/schema.js';

/** One accepted register, as stored: immutable once written. */
export type RegisterVersion = {
  id: string;
  tenantId: string;
  number: number;
  contentHash: string;
  yaml: string;
  /** The validated register as JSON; read it through registerSchema. */
  register: unknown;
  createdBy: string | null;
  createdAt: Date;
};

export type RegisterVersionSummary = Omit<RegisterVersion, 'yaml' | 'register'>;

export type ActivePointer = { versionId: string; activatedAt: Date; activatedBy: string | null };

function toVersion(row: Selectable<RegisterVersionRow>): RegisterVersion {
  return {
    id: row.id,
    tenantId: row.tenantId,
    number: row.number,
    contentHash: row.contentHash,
    yaml: row.yaml,
    register: row.register,
    createdBy: row.createdBy,
    createdAt: row.createdAt,
  };
}

/** Serialises writers of one tenant's register inside the caller's transaction. */
export async function lockTenantRegister(db: Db, tenantId: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext(${`register:${tenantId}`}))`.execute(db);
}

export async function nextVersionNumber(db: Db, tenantId: string): Promise<number> {
  const row = await db
    .selectFrom('registerVersions')
    .select((eb) => eb.fn.max('number').as('max'))
    .where('tenantId', '=', tenantId)
    .executeTakeFirst();
  return Number(row?.max ?? 0) + 1;
}

export async function insertVersion(
  db: Db,
  version: Omit<RegisterVersion, 'createdAt'>,
): Promise<RegisterVersion> {
  const row = await db
    .insertInto('registerVersions')
    .values({ ...version, register: JSON.stringify(version.register) })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toVersion(row);
}

export async function setActive(
  db: Db,
  tenantId: string,
  versionId: string,
  by: string | null,
  at: Date,
): Promise<void> {
  await db
    .insertInto('registerActive')
    .values({ tenantId, versionId, activatedBy: by, activatedAt: at })
    .onConflict((oc) =>
      oc.column('tenantId').doUpdateSet({ versionId, activatedBy: by, activatedAt: at }),
    )
    .execute();
}

export async function findActivePointer(
  db: Db,
  tenantId: string,
): Promise<ActivePointer | undefined> {
  const row = await db
    .selectFrom('registerActive')
    .select(['versionId', 'activatedAt', 'activatedBy'])
    .where('tenantId', '=', tenantId)
    .executeTakeFirst();
  return row;
}

export async function findVersion(
  db: Db,
  tenantId: string,
  id: string,
): Promise<RegisterVersion | undefined> {
  const row = await db
    .selectFrom('registerVersions')
    .selectAll()
    .where('tenantId', '=', tenantId)
    .where('id', '=', id)
    .executeTakeFirst();
  return row && toVersion(row);
}

export async function findActiveVersion(
  db: Db,
  tenantId: string,
): Promise<RegisterVersion | undefined> {
  const row = await db
    .selectFrom('registerActive as a')
    .innerJoin('registerVersions as v', (join) =>
      join.onRef('v.tenantId', '=', 'a.tenantId').onRef('v.id', '=', 'a.versionId'),
    )
    .selectAll('v')
    .where('a.tenantId', '=', tenantId)
    .executeTakeFirst();
  return row && toVersion(row);
}

/** Newest first. */
export async function listVersions(
  db: Db,
  tenantId: string,
  page: { after?: string; limit: number },
): Promise<RegisterVersionSummary[]> {
  let query = db
    .selectFrom('registerVersions')
    .select(['id', 'tenantId', 'number', 'contentHash', 'createdBy', 'createdAt'])
    .where('tenantId', '=', tenantId)
    .orderBy('id', 'desc')
    .limit(page.limit);
  if (page.after) query = query.where('id', '<', page.after);
  return query.execute();
}
