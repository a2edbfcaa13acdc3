import type { Db } from '../db/database.js';
import { rewrapIndexKey } from './blind-index.js';
import type { Keyring } from './keyring.js';

/**
 * Master key rotation re-wraps keys, never data: every subject's data key and
 * the blind index key are unwrapped with the master key version they were
 * wrapped under and wrapped again under the current one. Records, identities
 * and history stay as they are, so rotation costs one small row per subject.
 * It runs in batches, each in its own transaction, and can be interrupted and
 * run again: a row already under the current version is skipped.
 */
export type RotationReport = {
  currentVersion: number;
  subjectKeysRewrapped: number;
  indexKeyRewrapped: boolean;
  remainingByVersion: Record<string, number>;
};

const subjectKeyContext = (tenantId: string, subjectId: string) =>
  `avow/subject-key/${tenantId}/${subjectId}`;

export async function rotateMasterKey(
  db: Db,
  keyring: Keyring,
  options: { batchSize?: number } = {},
): Promise<RotationReport> {
  const batchSize = options.batchSize ?? 1000;
  const current = keyring.currentMasterVersion;
  let rewrapped = 0;
  for (;;) {
    const done = await db.transaction().execute(async (tx) => {
      const rows = await tx
        .selectFrom('subjectKeys')
        .select(['tenantId', 'subjectId', 'wrappedKey', 'masterKeyVersion'])
        .where('wrappedKey', 'is not', null)
        .where('masterKeyVersion', '<>', current)
        .orderBy('tenantId')
        .orderBy('subjectId')
        .limit(batchSize)
        .forUpdate()
        .execute();
      for (const row of rows) {
        if (!row.wrappedKey || row.masterKeyVersion === null) continue;
        const context = subjectKeyContext(row.tenantId, row.subjectId);
        const key = keyring.unwrap(row.wrappedKey, row.masterKeyVersion, context);
        const { wrapped, masterVersion } = keyring.wrap(key, context);
        await tx
          .updateTable('subjectKeys')
          .set({ wrappedKey: wrapped, masterKeyVersion: masterVersion })
          .where('tenantId', '=', row.tenantId)
          .where('subjectId', '=', row.subjectId)
          .where('masterKeyVersion', '=', row.masterKeyVersion)
          .execute();
      }
      rewrapped += rows.length;
      return rows.length < batchSize;
    });
    if (done) break;
  }
  const indexKeyRewrapped = await rewrapIndexKey(db, keyring);
  return {
    currentVersion: current,
    subjectKeysRewrapped: rewrapped,
    indexKeyRewrapped,
    remainingByVersion: await keysByVersion(db),
  };
}

/** How many live subject keys each master key version wraps: a version at 0 can be retired. */
export async function keysByVersion(db: Db): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom('subjectKeys')
    .select(['masterKeyVersion', (eb) => eb.fn.countAll<number>().as('count')])
    .where('wrappedKey', 'is not', null)
    .groupBy('masterKeyVersion')
    .execute();
  return Object.fromEntries(rows.map((r) => [String(r.masterKeyVersion), Number(r.count)]));
}
