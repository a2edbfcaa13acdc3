import { CompiledQuery, type Selectable, sql } from 'kysely';
import type { Db } from '../db/database.js';
import type { AuditCheckpointRow, AuditEventRow } from '../db/schema.js';
import type {
  ChainCheckpoint,
  ChainEntry,
  ChainHead,
  CheckpointKind,
  HashedEntry,
  LaneHead,
} from './audit-chain.js';

// bytea comes back as a Buffer from node-postgres and a Uint8Array from PGlite.
const hex = (bytes: Uint8Array) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
const base64 = (bytes: Uint8Array) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');

/**
 * Audit SQL. The only writes are appends (events, checkpoints, the lane
 * heads) and audit_prune(); nothing here updates or deletes an event.
 */
export function toChainEntry(row: Selectable<AuditEventRow>): ChainEntry {
  return {
    tenantId: row.tenantId,
    lane: Number(row.lane),
    seq: Number(row.seq),
    position: Number(row.position),
    id: row.id,
    at: row.at.toISOString(),
    actorType: row.actorType,
    actorId: row.actorId,
    action: row.action,
    subjectId: row.subjectId,
    categories: row.categories,
    purpose: row.purpose,
    outcome: row.outcome,
    requestId: row.requestId,
    payload: row.payload,
    sealed: row.sealed ? base64(row.sealed) : null,
    sealedKey: row.sealedKey,
    prevHash: hex(row.prevHash),
    hash: hex(row.hash),
  };
}

function toCheckpoint(row: Selectable<AuditCheckpointRow>): ChainCheckpoint {
  const common = {
    tenantId: row.tenantId,
    id: row.id,
    kind: row.kind,
    at: row.at.toISOString(),
    signature: base64(row.signature),
  };
  if (row.heads) return { ...common, heads: row.heads };
  return { ...common, seq: Number(row.seq), hash: row.hash ? hex(row.hash) : '' };
}

const toLaneHead = (row: { lane: number | string; seq: number | string; hash: Uint8Array }) => ({
  lane: Number(row.lane),
  seq: Number(row.seq),
  hash: hex(row.hash),
});

/**
 * Creates the heads a tenant's lanes lack (the genesis heads given, signed)
 * and returns every lane's head, and how many of them this call created (not
 * visible to others until the transaction commits): a first guess for
 * appends. Heads that exist are left alone, so this never waits for an append.
 */
export async function ensureLaneHeads(
  db: Db,
  heads: ChainHead[],
): Promise<{ heads: LaneHead[]; created: number }> {
  const tenantId = heads[0]?.tenantId;
  if (tenantId === undefined) return { heads: [], created: 0 };
  const values = heads.map(
    (h) =>
      sql`(${h.tenantId}, ${h.lane}::smallint, ${h.lanes}::smallint, ${h.seq}::bigint, ${Buffer.from(h.hash, 'hex')}::bytea, ${Buffer.from(h.signature, 'base64')}::bytea)`,
  );
  // The inserted rows are not visible to the second select of the same
  // statement, so the union lists each lane once.
  const result = await sql<{ lane: number; seq: number; hash: Uint8Array; created: boolean }>`
    with added as (
      insert into audit_heads (tenant_id, lane, lanes, seq, hash, signature)
      values ${sql.join(values)}
      on conflict (tenant_id, lane) do nothing
      returning lane, seq, hash
    )
    select lane, seq, hash, true as created from added
    union all
    select lane, seq, hash, false as created from audit_heads where tenant_id = ${tenantId}`.execute(
    db,
  );
  return {
    heads: result.rows.map(toLaneHead),
    created: result.rows.filter((r) => r.created).length,
  };
}

/** A sealing key an append reuses, and the wrapped form it must still be stored in. */
export type KeyCheck = {
  table: 'subject_keys' | 'audit_actor_keys';
  keyId: string;
  wrapped: Buffer;
};

// The text is fixed: sent as is, it is not rebuilt for every append.
const APPEND = `select lane, seq, hash, key_ok, position from audit_append(
  $1::text, $2::smallint, $3::bigint, $4::bytea, $5::bytea, $6::smallint, $7::bytea,
  $8::text, $9::text, $10::bytea, $11::text, $12::timestamptz, $13::text, $14::text, $15::text,
  $16::text, $17::text[], $18::text, $19::text, $20::text, $21::jsonb, $22::bytea, $23::text)`;

/**
 * Appends one entry to its lane and moves the lane's head to it, in one call
 * of audit_append() (migration 0010). It first takes a lane that no other
 * transaction holds (a transaction-level advisory lock per tenant and lane,
 * without waiting; the entry's lane first; a lane this transaction already
 * holds is never refused), so concurrent writers of one tenant spread over the
 * lanes instead of queueing on one head. Only if it got the entry's lane, that
 * head is at the entry's predecessor (`seq - 1`, `prevHash`) and the sealing
 * key the entry reused (`keyCheck`) is still stored as it was does it write;
 * the position comes from the sequence then, while the lane is held, so it
 * rises along the lane. Otherwise nothing is written and the caller gets the
 * head of the lane it now holds (until its transaction ends) to build on,
 * none when every lane is held by other transactions, and whether the key
 * was stale.
 */
export async function appendAtHead(
  db: Db,
  entry: HashedEntry & { prevHash: string; hash: string },
  head: { lanes: number; signature: Buffer },
  keyCheck: KeyCheck | null,
): Promise<
  { written: true; position: number } | { written: false; head?: LaneHead; keyStale: boolean }
> {
  const result = await db.executeQuery<{
    lane: number | null;
    seq: number | string | null;
    hash: Uint8Array | null;
    keyOk: boolean;
    position: number | string | null;
  }>(
    CompiledQuery.raw(APPEND, [
      entry.tenantId,
      entry.lane,
      entry.seq,
      Buffer.from(entry.prevHash, 'hex'),
      Buffer.from(entry.hash, 'hex'),
      head.lanes,
      head.signature,
      keyCheck?.table ?? null,
      keyCheck?.keyId ?? null,
      keyCheck?.wrapped ?? null,
      entry.id,
      entry.at,
      entry.actorType,
      entry.actorId,
      entry.action,
      entry.subjectId,
      entry.categories,
      entry.purpose,
      entry.outcome,
      entry.requestId,
      JSON.stringify(entry.payload),
      entry.sealed === null ? null : Buffer.from(entry.sealed, 'base64'),
      entry.sealedKey,
    ]),
  );
  const row = result.rows[0];
  if (row?.position !== null && row?.position !== undefined)
    return { written: true, position: Number(row.position) };
  const keyStale = row?.keyOk === false;
  if (!row || row.lane === null || row.seq === null || row.hash === null)
    return { written: false, keyStale };
  return {
    written: false,
    head: toLaneHead({ lane: row.lane, seq: row.seq, hash: row.hash }),
    keyStale,
  };
}

/**
 * Waits for one lane (its advisory lock, as audit_append takes it) and holds
 * it to the end of the transaction; its head, undefined when there is no such lane.
 */
export async function lockLane(
  db: Db,
  tenantId: string,
  lane: number,
): Promise<LaneHead | undefined> {
  await sql`select pg_advisory_xact_lock(hashtext(${tenantId}), ${lane}::int)`.execute(db);
  // A new statement: it sees what the lane's last holder committed.
  return findLaneHead(db, tenantId, lane);
}

/** Waits for every lane of a tenant, in lane order, holds them, and returns their heads (pruning). */
export async function lockAllLanes(db: Db, tenantId: string): Promise<LaneHead[]> {
  // The lock calls are volatile, so they run after the sort: in lane order.
  await sql`select pg_advisory_xact_lock(hashtext(tenant_id), lane) from audit_heads
             where tenant_id = ${tenantId} order by lane`.execute(db);
  // Read after the locks are granted: a new statement sees what their holders committed.
  const rows = await db
    .selectFrom('auditHeads')
    .select(['lane', 'seq', 'hash'])
    .where('tenantId', '=', tenantId)
    .orderBy('lane')
    .execute();
  return rows.map(toLaneHead);
}

/** One lane's head as committed, undefined when the lane has none. */
export async function findLaneHead(
  db: Db,
  tenantId: string,
  lane: number,
): Promise<LaneHead | undefined> {
  const row = await db
    .selectFrom('auditHeads')
    .select(['lane', 'seq', 'hash'])
    .where('tenantId', '=', tenantId)
    .where('lane', '=', lane)
    .executeTakeFirst();
  return row && toLaneHead(row);
}

/** Every lane's signed head, in lane order. */
export async function findHeads(db: Db, tenantId: string): Promise<ChainHead[]> {
  const rows = await db
    .selectFrom('auditHeads')
    .selectAll()
    .where('tenantId', '=', tenantId)
    .orderBy('lane')
    .execute();
  return rows.map((row) => ({
    tenantId,
    lane: Number(row.lane),
    lanes: row.lanes === null ? null : Number(row.lanes),
    seq: Number(row.seq),
    hash: hex(row.hash),
    signature: base64(row.signature),
  }));
}

/** Checkpoints are written with every lane's head; the single-chain form is only read. */
export async function insertCheckpoint(
  db: Db,
  c: ChainCheckpoint & { heads: LaneHead[] },
): Promise<void> {
  await db
    .insertInto('auditCheckpoints')
    .values({
      tenantId: c.tenantId,
      kind: c.kind,
      id: c.id,
      heads: JSON.stringify(c.heads),
      at: c.at,
      signature: Buffer.from(c.signature, 'base64'),
    })
    .execute();
}

/** The latest checkpoint of a kind, or undefined. */
export async function latestCheckpoint(
  db: Db,
  tenantId: string,
  kind: CheckpointKind,
): Promise<ChainCheckpoint | undefined> {
  const row = await db
    .selectFrom('auditCheckpoints')
    .selectAll()
    .where('tenantId', '=', tenantId)
    .where('kind', '=', kind)
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row && toCheckpoint(row);
}

/** Oldest first (checkpoint ids sort by time). */
export async function listCheckpoints(db: Db, tenantId: string): Promise<ChainCheckpoint[]> {
  const rows = await db
    .selectFrom('auditCheckpoints')
    .selectAll()
    .where('tenantId', '=', tenantId)
    .orderBy('id')
    .execute();
  return rows.map(toCheckpoint);
}

/** One page of the log in position order, all lanes, for verification and export. */
export async function chainPage(
  db: Db,
  tenantId: string,
  afterPosition: number,
  limit: number,
): Promise<ChainEntry[]> {
  const rows = await db
    .selectFrom('auditEvents')
    .selectAll()
    .where('tenantId', '=', tenantId)
    .where('position', '>', afterPosition)
    .orderBy('position')
    .limit(limit)
    .execute();
  return rows.map(toChainEntry);
}

/** The entry at `seq` of a lane, if it is there. */
export async function findEntryAt(
  db: Db,
  tenantId: string,
  lane: number,
  seq: number,
): Promise<ChainEntry | undefined> {
  const row = await db
    .selectFrom('auditEvents')
    .selectAll()
    .where('tenantId', '=', tenantId)
    .where('lane', '=', lane)
    .where('seq', '=', seq)
    .executeTakeFirst();
  return row ? toChainEntry(row) : undefined;
}

export type AuditFilter = {
  subjectId?: string | undefined;
  actorId?: string | undefined;
  actions?: string[] | undefined;
  purpose?: string | undefined;
  from?: Date | undefined;
  to?: Date | undefined;
};

/** Newest first (by position); `beforePosition` is the cursor. */
export async function searchEvents(
  db: Db,
  tenantId: string,
  filter: AuditFilter,
  page: { beforePosition?: number | undefined; limit: number },
): Promise<ChainEntry[]> {
  let query = db.selectFrom('auditEvents').selectAll().where('tenantId', '=', tenantId);
  if (filter.subjectId !== undefined) query = query.where('subjectId', '=', filter.subjectId);
  if (filter.actorId !== undefined) query = query.where('actorId', '=', filter.actorId);
  if (filter.actions !== undefined && filter.actions.length > 0)
    query = query.where('action', 'in', filter.actions);
  if (filter.purpose !== undefined) query = query.where('purpose', '=', filter.purpose);
  if (filter.from !== undefined) query = query.where('at', '>=', filter.from);
  if (filter.to !== undefined) query = query.where('at', '<', filter.to);
  if (page.beforePosition !== undefined) query = query.where('position', '<', page.beforePosition);
  const rows = await query.orderBy('position', 'desc').limit(page.limit).execute();
  return rows.map(toChainEntry);
}

/**
 * Where each lane of a tenant starts and where a prune at `cutoff` would cut
 * it: its first entry and its first entry at or after the cutoff (each with
 * the hash it continues from). Lanes without entries have nulls.
 */
export async function laneStarts(
  db: Db,
  tenantId: string,
  cutoff: Date,
): Promise<
  {
    lane: number;
    first: { seq: number; prevHash: string } | null;
    firstKept: { seq: number; prevHash: string } | null;
  }[]
> {
  const result = await sql<{
    lane: number;
    firstSeq: number | string | null;
    firstPrev: Uint8Array | null;
    keptSeq: number | string | null;
    keptPrev: Uint8Array | null;
  }>`
    select h.lane, f.seq as first_seq, f.prev_hash as first_prev,
           k.seq as kept_seq, k.prev_hash as kept_prev
      from audit_heads h
      left join lateral (
        select seq, prev_hash from audit_events e
         where e.tenant_id = h.tenant_id and e.lane = h.lane order by seq limit 1
      ) f on true
      left join lateral (
        select seq, prev_hash from audit_events e
         where e.tenant_id = h.tenant_id and e.lane = h.lane and e.at >= ${cutoff}
         order by seq limit 1
      ) k on true
     where h.tenant_id = ${tenantId}
     order by h.lane`.execute(db);
  return result.rows.map((r) => ({
    lane: Number(r.lane),
    first:
      r.firstSeq === null || r.firstPrev === null
        ? null
        : { seq: Number(r.firstSeq), prevHash: hex(r.firstPrev) },
    firstKept:
      r.keptSeq === null || r.keptPrev === null
        ? null
        : { seq: Number(r.keptSeq), prevHash: hex(r.keptPrev) },
  }));
}

/**
 * The one delete, via audit_prune(): from each lane the entries through
 * `through[lane]`, and the checkpoints that name only removed entries, except
 * the signed prune checkpoint `anchorId`.
 */
export async function pruneThrough(
  db: Db,
  tenantId: string,
  through: number[],
  anchorId: string,
): Promise<number> {
  const result = await sql<{
    removed: number | string;
  }>`select audit_prune(${tenantId}, ${through}::bigint[], ${anchorId}) as removed`.execute(db);
  return Number(result.rows[0]?.removed ?? 0);
}

export async function findActorKey(db: Db, tenantId: string, keyId: string) {
  return db
    .selectFrom('auditActorKeys')
    .select(['wrappedKey', 'masterKeyVersion', 'destroyedAt'])
    .where('tenantId', '=', tenantId)
    .where('keyId', '=', keyId)
    .executeTakeFirst();
}

export async function insertActorKey(
  db: Db,
  row: { tenantId: string; keyId: string; wrappedKey: Buffer; masterKeyVersion: number },
): Promise<boolean> {
  const inserted = await db
    .insertInto('auditActorKeys')
    .values(row)
    .onConflict((oc) => oc.columns(['tenantId', 'keyId']).doNothing())
    .returning('keyId')
    .executeTakeFirst();
  return inserted !== undefined;
}
