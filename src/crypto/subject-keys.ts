import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import { type Keyring, newDataKey } from './keyring.js';

/**
 * Per-subject data keys. Everything that identifies a person is sealed under
 * their key (vault records, identities, personal data inside audit events), so
 * destroying it is erasure, in the database and in every backup of it.
 */
export type SubjectKeyState =
  /** `wrapped`: the key as stored, so a caller can later check it is still the one stored. */
  | { state: 'live'; key: Buffer; wrapped: Buffer }
  | { state: 'destroyed'; destroyedAt: Date }
  | { state: 'none' };

const context = (tenantId: string, subjectId: string) =>
  `avow/subject-key/${tenantId}/${subjectId}`;

export function createSubjectKeys(deps: { keyring: Keyring }) {
  const { keyring } = deps;

  async function get(db: Db, tenantId: string, subjectId: string): Promise<SubjectKeyState> {
    const row = await db
      .selectFrom('subjectKeys')
      .select(['wrappedKey', 'masterKeyVersion', 'destroyedAt'])
      .where('tenantId', '=', tenantId)
      .where('subjectId', '=', subjectId)
      .executeTakeFirst();
    if (!row) return { state: 'none' };
    if (row.wrappedKey === null || row.masterKeyVersion === null) {
      return { state: 'destroyed', destroyedAt: row.destroyedAt ?? new Date(0) };
    }
    return {
      state: 'live',
      key: keyring.unwrap(row.wrappedKey, row.masterKeyVersion, context(tenantId, subjectId)),
      wrapped: row.wrappedKey,
    };
  }

  /** The subject's key, created on first use. Fails for a subject whose key was destroyed. */
  async function getOrCreate(db: Db, tenantId: string, subjectId: string): Promise<Buffer> {
    const existing = await get(db, tenantId, subjectId);
    if (existing.state === 'live') return existing.key;
    if (existing.state === 'destroyed') throw new Error('subject key destroyed');
    const key = newDataKey();
    const { wrapped, masterVersion } = keyring.wrap(key, context(tenantId, subjectId));
    const inserted = await db
      .insertInto('subjectKeys')
      .values({ tenantId, subjectId, wrappedKey: wrapped, masterKeyVersion: masterVersion })
      .onConflict((oc) => oc.columns(['tenantId', 'subjectId']).doNothing())
      .returning('subjectId')
      .executeTakeFirst();
    if (inserted) return key;
    // Someone else created it first: use theirs.
    const raced = await get(db, tenantId, subjectId);
    if (raced.state !== 'live') throw new Error('subject key destroyed');
    return raced.key;
  }

  /** Crypto-shredding: the wrapped key is overwritten; only the fact and time remain. */
  async function destroy(db: Db, tenantId: string, subjectId: string, at: Date): Promise<void> {
    await destroySubjectKeys(db, tenantId, [subjectId], at);
  }

  return { get, getOrCreate, destroy };
}

export type SubjectKeys = ReturnType<typeof createSubjectKeys>;

/**
 * Crypto-shredding of many keys at once, in the caller's transaction (needs
 * no keyring): each wrapped key is overwritten, or a destroyed row written
 * for an id that had none, so it can never get one. The first destruction
 * time stays.
 */
export async function destroySubjectKeys(
  db: Db,
  tenantId: string,
  subjectIds: readonly string[],
  at: Date,
): Promise<void> {
  if (subjectIds.length === 0) return;
  await db
    .insertInto('subjectKeys')
    .values(
      subjectIds.map((subjectId) => ({
        tenantId,
        subjectId,
        wrappedKey: null,
        masterKeyVersion: null,
        destroyedAt: at,
      })),
    )
    .onConflict((oc) =>
      oc.columns(['tenantId', 'subjectId']).doUpdateSet({
        wrappedKey: null,
        masterKeyVersion: null,
        destroyedAt: sql`coalesce(subject_keys.destroyed_at, excluded.destroyed_at)`,
      }),
    )
    .execute();
}
