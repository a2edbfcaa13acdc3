import type { Db } from '../db/database.js';
import { rewrapIndexKey } from './blind-index.js';
import type { Keyring } from './keyring.js';

/**
 * Master key rotation re-wraps keys, never data: every subject's data key, the
 * audit log's actor keys (installation chain) and the blind index key are unwrapped with the master key version they were
 * wrapped under and wrapped again under the current one. Records, identities
 * and history stay as they are, so rotation costs one small row per subject.
 * It runs in batches, each in its own transaction, and can be interrupted and
 * run again: a row already under the current version is skipped.
 */
export type RotationReport = {
  currentVersion: number;
  subjectKeysRewrapped: number;
  /** `audit_actor_keys`: the installation chain's keys (operator logins, failed logins). */
  actorKeysRewrapped: number;
  indexKeyRewrapped: boolean;
  remainingByVersion: Record<string, number>;
};

const subjectKeyContext = (tenantId: string, subjectId: string) =>
  `avow/subject-key/${tenantId}/${subjectId}`;
// Must match src/audit/audit-service.ts, which wraps and unwraps them.
const actorKeyContext = (tenantId: string, keyId: string) =>
  `avow/audit-actor-key/${tenantId}/${keyId}`;

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
  const actorKeysRewrapped = await rewrapActorKeys(db, keyring, batchSize);
  const indexKeyRewrapped = await rewrapIndexKey(db, keyring);
  return {
    currentVersion: current,
    subjectKeysRewrapped: rewrapped,
    actorKeysRewrapped,
    indexKeyRewrapped,
    remainingByVersion: await keysByVersion(db),
  };
}

/**
 * The audit log's actor keys, same batches and same skip rule. Without this, a
 * retired master key would leave the installation chain's sealed IPs and user
 * agents unreadable while the chain still verified.
 */
async function rewrapActorKeys(db: Db, keyring: Keyring, batchSize: number): Promise<number> {
  const current = keyring.currentMasterVersion;
  let rewrapped = 0;
  for (;;) {
    const done = await db.transaction().execute(async (tx) => {
      const rows = await tx
        .selectFrom('auditActorKeys')
        .select(['tenantId', 'keyId', 'wrappedKey', 'masterKeyVersion'])
        .where('wrappedKey', 'is not', null)
        .where('masterKeyVersion', '<>', current)
        .orderBy('tenantId')
        .orderBy('keyId')
        .limit(batchSize)
        .forUpdate()
        .execute();
      for (const row of rows) {
        if (!row.wrappedKey || row.masterKeyVersion === null) continue;
        const context = actorKeyContext(row.tenantId, row.keyId);
        const key = keyring.unwrap(row.wrappedKey, row.masterKeyVersion, context);
        const { wrapped, masterVersion } = keyring.wrap(key, context);
        await tx
          .updateTable('auditActorKeys')
          .set({ wrappedKey: wrapped, masterKeyVersion: masterVersion })
          .where('tenantId', '=', row.tenantId)
          .where('keyId', '=', row.keyId)
          .where('masterKeyVersion', '=', row.masterKeyVersion)
          .execute();
      }
      rewrapped += rows.length;
      return rows.length < batchSize;
    });
    if (done) return rewrapped;
  }
}

/**
 * How many live data keys (subject keys and audit actor keys) each master key
 * version wraps: a version at 0 can be retired.
 */
export async function keysByVersion(db: Db): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of ['subjectKeys', 'auditActorKeys'] as const) {
    const rows = await db
      .selectFrom(table)
      .select(['masterKeyVersion', (eb) => eb.fn.countAll<number>().as('count')])
      .where('wrappedKey', 'is not', null)
      .groupBy('masterKeyVersion')
      .execute();
    for (const r of rows) {
      const version = String(r.masterKeyVersion);
      counts[version] = (counts[version] ?? 0) + Number(r.count);
    }
  }
  return counts;
}
