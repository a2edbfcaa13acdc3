import { type Selectable, sql } from 'kysely';
import type { Db } from '../db/database.js';
import type { AuditCheckpointRow, AuditEventRow } from '../db/schema.js';
import type { ChainCheckpoint, ChainEntry, ChainHead, CheckpointKind } from './audit-chain.js';

// bytea comes back as a Buffer from node-postgres and a Uint8Array from PGlite.
const hex = (bytes: Uint8Array) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
const base64 = (bytes: Uint8Array) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');

/**
 * Audit SQL. The only writes are appends (events, checkpoints, the head) and
 * audit_prune(); nothing here updates or deletes an event.
 */
export function toChainEntry(row: Selectable<AuditEventRow>): ChainEntry {
  return {
    tenantId: row.tenantId,
    seq: Number(row.seq),
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
  return {
    tenantId: row.tenantId,
    seq: Number(row.seq),
    id: row.id,
    kind: row.kind,
    hash: hex(row.hash),
    at: row.at.toISOString(),
    signature: base64(row.signature),
  };
}

/** Locks the chain head for the rest of the transaction: appends on one tenant queue here. */
export async function lockHead(
  db: Db,
  tenantId: string,
): Promise<{ seq: number; hash: string } | undefined> {
  const row = await db
    .selectFrom('auditHeads')
    .select(['seq', 'hash'])
    .where('tenantId', '=', tenantId)
    .forUpdate()
    .executeTakeFirst();
  return row && { seq: Number(row.seq), hash: hex(row.hash) };
}

export async function createHeadIfMissing(db: Db, head: ChainHead): Promise<void> {
  await db
    .insertInto('auditHeads')
    .values({
      tenantId: head.tenantId,
      seq: head.seq,
      hash: Buffer.from(head.hash, 'hex'),
      signature: Buffer.from(head.signature, 'base64'),
      updatedAt: new Date(),
    })
    .onConflict((oc) => oc.column('tenantId').doNothing())
    .execute();
}

/**
 * Appends one entry and moves the head to it in one statement, only if the
 * head is at the entry's predecessor (`seq - 1`, `prevHash`). The statement
 * first locks the head (`FOR UPDATE`, held until the transaction ends), so it
 * is both the queue for concurrent writers of a tenant and the write; under
 * READ COMMITTED a writer that waited compares against the head its
 * predecessor committed. When the head is elsewhere nothing is written and
 * the caller gets the head it now holds locked (undefined: no head yet).
 */
export async function appendAtHead(
  db: Db,
  entry: ChainEntry,
  headSignature: Buffer,
): Promise<{ written: true } | { written: false; head?: { seq: number; hash: string } }> {
  const prevHash = Buffer.from(entry.prevHash, 'hex');
  const hash = Buffer.from(entry.hash, 'hex');
  const result = await sql<{ seq: string | number; hash: Uint8Array; written: string | number }>`
    with cur as (
      select seq, hash from audit_heads where tenant_id = ${entry.tenantId} for update
    ), moved as (
      update audit_heads
         set seq = ${entry.seq}, hash = ${hash}, signature = ${headSignature}, updated_at = now()
       where tenant_id = ${entry.tenantId}
         and (select seq from cur) = ${entry.seq - 1}
         and (select hash from cur) = ${prevHash}
      returning tenant_id
    ), inserted as (
      insert into audit_events (tenant_id, seq, id, at, actor_type, actor_id, action, subject_id,
                                categories, purpose, outcome, request_id, payload, sealed,
                                sealed_key, prev_hash, hash)
      select moved.tenant_id, ${entry.seq}::bigint, ${entry.id}::text, ${entry.at}::timestamptz,
             ${entry.actorType}::text, ${entry.actorId}::text, ${entry.action}::text,
             ${entry.subjectId}::text, ${entry.categories}::text[], ${entry.purpose}::text,
             ${entry.outcome}::text, ${entry.requestId}::text,
             ${JSON.stringify(entry.payload)}::jsonb,
             ${entry.sealed === null ? null : Buffer.from(entry.sealed, 'base64')}::bytea,
             ${entry.sealedKey}::text, ${prevHash}::bytea, ${hash}::bytea
        from moved
      returning seq
    )
    select cur.seq, cur.hash, (select count(*) from inserted) as written from cur`.execute(db);
  const row = result.rows[0];
  if (!row) return { written: false };
  if (Number(row.written) === 1) return { written: true };
  return { written: false, head: { seq: Number(row.seq), hash: hex(row.hash) } };
}

export async function findHead(db: Db, tenantId: string): Promise<ChainHead | undefined> {
  const row = await db
    .selectFrom('auditHeads')
    .selectAll()
    .where('tenantId', '=', tenantId)
    .executeTakeFirst();
  return (
    row && { tenantId, seq: Number(row.seq), hash: hex(row.hash), signature: base64(row.signature) }
  );
}

export async function insertCheckpoint(db: Db, c: ChainCheckpoint): Promise<void> {
  await db
    .insertInto('auditCheckpoints')
    .values({
      tenantId: c.tenantId,
      seq: c.seq,
      kind: c.kind,
      id: c.id,
      hash: Buffer.from(c.hash, 'hex'),
      at: c.at,
      signature: Buffer.from(c.signature, 'base64'),
    })
    .onConflict((oc) => oc.columns(['tenantId', 'seq', 'kind']).doNothing())
    .execute();
}

export async function findCheckpoint(
  db: Db,
  tenantId: string,
  seq: number,
  kind: CheckpointKind,
): Promise<ChainCheckpoint | undefined> {
  const row = await db
    .selectFrom('auditCheckpoints')
    .selectAll()
    .where('tenantId', '=', tenantId)
    .where('seq', '=', seq)
    .where('kind', '=', kind)
    .executeTakeFirst();
  return row && toCheckpoint(row);
}

export async function listCheckpoints(db: Db, tenantId: string): Promise<ChainCheckpoint[]> {
  const rows = await db
    .selectFrom('auditCheckpoints')
    .selectAll()
    .where('tenantId', '=', tenantId)
    .orderBy('seq')
    .orderBy('kind')
    .execute();
  return rows.map(toCheckpoint);
}

/** One page of the chain in sequence order, for verification and export. */
export async function chainPage(
  db: Db,
  tenantId: string,
  afterSeq: number,
  limit: number,
): Promise<ChainEntry[]> {
  const rows = await db
    .selectFrom('auditEvents')
    .selectAll()
    .where('tenantId', '=', tenantId)
    .where('seq', '>', afterSeq)
    .orderBy('seq')
    .limit(limit)
    .execute();
  return rows.map(toChainEntry);
}

export type AuditFilter = {
  subjectId?: string | undefined;
  actorId?: string | undefined;
  actions?: string[] | undefined;
  purpose?: string | undefined;
  from?: Date | undefined;
  to?: Date | undefined;
};

/** Newest first; `beforeSeq` is the cursor. */
export async function searchEvents(
  db: Db,
  tenantId: string,
  filter: AuditFilter,
  page: { beforeSeq?: number | undefined; limit: number },
): Promise<ChainEntry[]> {
  let query = db.selectFrom('auditEvents').selectAll().where('tenantId', '=', tenantId);
  if (filter.subjectId !== undefined) query = query.where('subjectId', '=', filter.subjectId);
  if (filter.actorId !== undefined) query = query.where('actorId', '=', filter.actorId);
  if (filter.actions !== undefined && filter.actions.length > 0)
    query = query.where('action', 'in', filter.actions);
  if (filter.purpose !== undefined) query = query.where('purpose', '=', filter.purpose);
  if (filter.from !== undefined) query = query.where('at', '>=', filter.from);
  if (filter.to !== undefined) query = query.where('at', '<', filter.to);
  if (page.beforeSeq !== undefined) query = query.where('seq', '<', page.beforeSeq);
  const rows = await query.orderBy('seq', 'desc').limit(page.limit).execute();
  return rows.map(toChainEntry);
}

/** The last entry written before a time: where a retention prune cuts. */
export async function lastEntryBefore(
  db: Db,
  tenantId: string,
  before: Date,
): Promise<ChainEntry | undefined> {
  const row = await db
    .selectFrom('auditEvents')
    .selectAll()
    .where('tenantId', '=', tenantId)
    .where('at', '<', before)
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row && toChainEntry(row);
}

export async function entryAt(
  db: Db,
  tenantId: string,
  seq: number,
): Promise<ChainEntry | undefined> {
  const row = await db
    .selectFrom('auditEvents')
    .selectAll()
    .where('tenantId', '=', tenantId)
    .where('seq', '=', seq)
    .executeTakeFirst();
  return row && toChainEntry(row);
}

/** The one delete: entries through `throughSeq` and the checkpoints before it, via audit_prune(). */
export async function pruneThrough(db: Db, tenantId: string, throughSeq: number): Promise<number> {
  const result = await sql<{
    removed: number | string;
  }>`select audit_prune(${tenantId}, ${throughSeq}) as removed`.execute(db);
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
