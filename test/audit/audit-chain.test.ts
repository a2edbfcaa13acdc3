import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_LANES, type VerifyResult } from '../../src/audit/audit-chain.js';
import type { AuditEventInput } from '../../src/audit/audit-events.js';
import { verifyExportFile } from '../../src/audit/audit-offline.js';
import { type AuditService, createAuditService } from '../../src/audit/audit-service.js';
import { runCli } from '../../src/cli/main.js';
import type { Db } from '../../src/db/database.js';
import { startTestAvow, type TestAvow } from '../support/avow.js';

/**
 * Tamper evidence, tried the way an attacker with database access would: edit,
 * delete, reorder, cut, forge. Every one must be found and located, in any
 * lane of a tenant's log.
 */
let avow: TestAvow;
let db: Db;
let audit: AuditService;
const dir = mkdtempSync(path.join(tmpdir(), 'avow-audit-'));

beforeAll(async () => {
  avow = await startTestAvow();
  db = avow.database.db;
  // Checkpoints every 4 entries of a lane so the short lanes here have some.
  audit = createAuditService({
    db,
    keyring: avow.services.keyring,
    subjectKeys: avow.services.subjectKeys,
    checkpointEvery: 4,
  });
});
afterAll(async () => {
  await avow?.close();
});

/** An audit service whose prunes wait 200 ms for readers of the log (60 s in the service). */
const auditWaitingBriefly = () =>
  createAuditService({
    db,
    keyring: avow.services.keyring,
    subjectKeys: avow.services.subjectKeys,
    pruneWaitMs: 200,
  });

type Row = { id: string; lane: number; seq: number; position: number; action: string };

const read = (tenantId: string, i: number): AuditEventInput => ({
  tenantId,
  actor: { type: 'api_key', id: 'key_reader' },
  action: 'subject.read',
  subjectId: 'sub_alice',
  categories: ['user.contact.email'],
  purpose: 'support',
  outcome: 'success',
  ip: '203.0.113.7',
  userAgent: 'Mozilla/5.0 test',
  payload: { count: i },
});

/** The tenant's entries in log order. */
async function rowsOf(tenantId: string): Promise<Row[]> {
  const rows = await db
    .selectFrom('auditEvents')
    .select(['id', 'lane', 'seq', 'position', 'action'])
    .where('tenantId', '=', tenantId)
    .orderBy('position')
    .execute();
  return rows.map((r) => ({
    ...r,
    lane: Number(r.lane),
    seq: Number(r.seq),
    position: Number(r.position),
  }));
}

/** A tenant with `count` events (tenant.created first), each in its own transaction. */
async function chainOf(count: number): Promise<{ tenantId: string; rows: Row[] }> {
  const tenant = await avow.services.tenants.create({
    name: 'Chain',
    role: 'controller',
    region: 'eu',
  });
  for (let i = 0; i < count - 1; i += 1) await audit.record(db, read(tenant.id, i));
  return { tenantId: tenant.id, rows: await rowsOf(tenant.id) };
}

/** `count` events in one transaction: they share its lane, one after the other. */
async function inOneTransaction(tenantId: string, count: number): Promise<Row[]> {
  await db.transaction().execute(async (tx) => {
    for (let i = 0; i < count; i += 1) await audit.record(tx, read(tenantId, 100 + i));
  });
  const rows = await rowsOf(tenantId);
  return rows.slice(-count);
}

/** Tampering as a database owner would: with the append-only trigger switched off. */
async function tamper(statements: ReturnType<typeof sql>[]): Promise<void> {
  await db.transaction().execute(async (tx) => {
    await sql`alter table audit_events disable trigger audit_events_append_only`.execute(tx);
    await sql`alter table audit_checkpoints disable trigger audit_checkpoints_append_only`.execute(
      tx,
    );
    for (const statement of statements) await statement.execute(tx);
    await sql`alter table audit_events enable trigger audit_events_append_only`.execute(tx);
    await sql`alter table audit_checkpoints enable trigger audit_checkpoints_append_only`.execute(
      tx,
    );
  });
}

describe('audit chain', () => {
  it('verifies an untouched log spread over lanes, with tenant.created first', async () => {
    const { tenantId, rows } = await chainOf(9);
    const result = await audit.verify(tenantId);
    expect(result).toMatchObject({
      ok: true,
      entries: 9,
      lanes: AUDIT_LANES,
      firstPosition: rows[0]?.position,
      lastPosition: rows[8]?.position,
      firstBad: null,
    });
    expect(rows[0]?.action).toBe('tenant.created');
    // Appends of one process take the lanes in turn.
    expect(new Set(rows.map((r) => r.lane)).size).toBeGreaterThan(1);
    const heads = await db
      .selectFrom('auditHeads')
      .select('lane')
      .where('tenantId', '=', tenantId)
      .execute();
    expect(heads).toHaveLength(AUDIT_LANES);
  });

  it('keeps the appends of one transaction in one lane, in order, with interval checkpoints', async () => {
    const { tenantId } = await chainOf(1);
    const rows = await inOneTransaction(tenantId, 7);
    const [first] = rows;
    expect(rows.map((r) => r.lane)).toEqual(rows.map(() => first?.lane));
    expect(rows.map((r) => r.seq)).toEqual(rows.map((_, i) => (first?.seq ?? 0) + i));
    const result = await audit.verify(tenantId);
    expect(result).toMatchObject({ ok: true, entries: 8 });
    // Seven seqs in a row pass a multiple of 4 at least once.
    expect(result.checkpoints).toBeGreaterThanOrEqual(1);
  });

  it('stores IP and user agent sealed, never in clear', async () => {
    const { tenantId, rows } = await chainOf(2);
    const row = await sql<{
      text: string;
    }>`select encode(sealed, 'escape') || payload::text as text from audit_events where tenant_id = ${tenantId} and id = ${rows[1]?.id}`.execute(
      db,
    );
    expect(row.rows[0]?.text).not.toContain('203.0.113.7');
    expect(row.rows[0]?.text).not.toContain('Mozilla');
  });

  it('locates a changed field in any lane', async () => {
    const { tenantId, rows } = await chainOf(6);
    const target = rows.slice(2).find((r) => r.lane !== 0) as Row;
    await tamper([
      sql`update audit_events set purpose = 'marketing' where tenant_id = ${tenantId} and id = ${target.id}`,
    ]);
    const result = await audit.verify(tenantId);
    expect(result.ok).toBe(false);
    expect(result.firstBad).toMatchObject({
      lane: target.lane,
      seq: target.seq,
      entryId: target.id,
      reason: expect.stringMatching(/altered/),
    });
  });

  it('locates a row deleted from the middle of a lane', async () => {
    const { tenantId } = await chainOf(2);
    const [, middle] = await inOneTransaction(tenantId, 3);
    await audit.record(db, read(tenantId, 9));
    await tamper([
      sql`delete from audit_events where tenant_id = ${tenantId} and id = ${middle?.id}`,
    ]);
    const result = await audit.verify(tenantId);
    expect(result.ok).toBe(false);
    expect(result.firstBad).toMatchObject({
      lane: middle?.lane,
      seq: middle?.seq,
      reason: expect.stringMatching(/missing/),
    });
  });

  it('locates rows reordered within a lane, by seq or by position', async () => {
    const { tenantId } = await chainOf(1);
    const [a, , c] = await inOneTransaction(tenantId, 3);
    const setSeq = (id: string | undefined, seq: number) =>
      sql`update audit_events set seq = ${seq}::bigint where tenant_id = ${tenantId} and id = ${id}::text`;
    await tamper([setSeq(a?.id, -1), setSeq(c?.id, a?.seq ?? 0), setSeq(a?.id, c?.seq ?? 0)]);
    const bySeq = await audit.verify(tenantId);
    expect(bySeq.ok).toBe(false);
    expect(bySeq.firstBad?.lane).toBe(a?.lane);

    const other = await chainOf(1);
    const [x, , z] = await inOneTransaction(other.tenantId, 3);
    // Positions are not hashed, but they must rise along the lane.
    const setPosition = (id: string | undefined, position: number) =>
      sql`update audit_events set position = ${position}::bigint where tenant_id = ${other.tenantId} and id = ${id}::text`;
    await tamper([
      setPosition(x?.id, -1),
      setPosition(z?.id, x?.position ?? 0),
      setPosition(x?.id, z?.position ?? 0),
    ]);
    const byPosition = await audit.verify(other.tenantId);
    expect(byPosition.ok).toBe(false);
    expect(byPosition.firstBad?.lane).toBe(x?.lane);
  });

  it('locates a cut tail in any lane, also when the head is rewound to match', async () => {
    const { tenantId } = await chainOf(2);
    const rows = await inOneTransaction(tenantId, 3);
    const last = rows[2] as Row;
    const before = rows[1] as Row;
    await tamper([sql`delete from audit_events where tenant_id = ${tenantId} and id = ${last.id}`]);
    const cut = await audit.verify(tenantId);
    expect(cut.ok).toBe(false);
    // Found by the lane's signed head (and by an interval checkpoint when one covers the entry).
    expect(cut.firstBad).toMatchObject({
      lane: last.lane,
      seq: last.seq,
      reason: expect.stringMatching(/missing/),
    });
    expect(cut.problems).toContainEqual(
      expect.objectContaining({ lane: last.lane, reason: expect.stringMatching(/tail cut/) }),
    );

    await sql`update audit_heads set seq = ${before.seq}, hash = (select hash from audit_events where tenant_id = ${tenantId} and id = ${before.id})
      where tenant_id = ${tenantId} and lane = ${last.lane}`.execute(db);
    const rewound = await audit.verify(tenantId);
    expect(rewound.ok).toBe(false);
    expect(rewound.firstBad).toMatchObject({
      lane: last.lane,
      seq: last.seq,
      reason: expect.stringMatching(/does not verify/),
    });
  });

  it('finds a lane deleted whole, head and all', async () => {
    const { tenantId, rows } = await chainOf(4);
    const lane = (rows.find((r) => r.lane !== 0) as Row).lane;
    await tamper([sql`delete from audit_events where tenant_id = ${tenantId} and lane = ${lane}`]);
    await sql`delete from audit_heads where tenant_id = ${tenantId} and lane = ${lane}`.execute(db);
    const result = await audit.verify(tenantId);
    expect(result.ok).toBe(false);
    expect(result.problems).toContainEqual(
      expect.objectContaining({
        lane,
        reason: expect.stringMatching(/head of lane .* is missing/),
      }),
    );
  });

  it('finds entries whose heads were all deleted', async () => {
    const { tenantId, rows } = await chainOf(3);
    await sql`delete from audit_heads where tenant_id = ${tenantId}`.execute(db);
    const result = await audit.verify(tenantId);
    expect(result).toMatchObject({ ok: false, entries: 3 });
    for (const lane of new Set(rows.map((r) => r.lane)))
      expect(result.problems).toContainEqual(
        expect.objectContaining({
          lane,
          reason: expect.stringMatching(/head of lane .* is missing/),
        }),
      );
  });

  it('locates a forged checkpoint signature, and a checkpoint that names a cut entry', async () => {
    const { tenantId } = await chainOf(3);
    const made = await audit.checkpoint(tenantId);
    expect(made && 'heads' in made && made.heads).toHaveLength(AUDIT_LANES);
    // Nothing moved: the same checkpoint again.
    expect((await audit.checkpoint(tenantId))?.id).toBe(made?.id);
    await tamper([
      sql`update audit_checkpoints set signature = decode(repeat('ab', 64), 'hex') where tenant_id = ${tenantId} and id = ${made?.id}`,
    ]);
    const result = await audit.verify(tenantId);
    expect(result.ok).toBe(false);
    expect(result.firstBad).toMatchObject({ checkpointId: made?.id });

    const other = await chainOf(3);
    const checkpoint = await audit.checkpoint(other.tenantId);
    const last = other.rows[2] as Row;
    // The lane's last entry and its head removed: the signed checkpoint still names the entry.
    await tamper([
      sql`delete from audit_events where tenant_id = ${other.tenantId} and id = ${last.id}`,
    ]);
    await sql`delete from audit_heads where tenant_id = ${other.tenantId} and lane = ${last.lane}`.execute(
      db,
    );
    const found = await audit.verify(other.tenantId);
    expect(found.ok).toBe(false);
    expect(found.problems).toContainEqual(
      expect.objectContaining({ lane: last.lane, checkpointId: checkpoint?.id }),
    );
  });

  it('refuses UPDATE and DELETE of audit rows in the database itself', async () => {
    const { tenantId } = await chainOf(2);
    await expect(
      sql`update audit_events set purpose = 'x' where tenant_id = ${tenantId}`.execute(db),
    ).rejects.toThrow(/append-only/);
    await expect(
      sql`delete from audit_events where tenant_id = ${tenantId}`.execute(db),
    ).rejects.toThrow(/append-only/);
  });

  it('keeps every lane unbroken under concurrent writers', async () => {
    const { tenantId } = await chainOf(1);
    await Promise.all(
      Array.from({ length: 25 }, (_, i) =>
        audit.record(db, {
          tenantId,
          actor: { type: 'system', id: 'load' },
          action: 'retention.swept',
          outcome: 'success',
          payload: { removed: i },
        }),
      ),
    );
    // Concurrent transactions that each append twice, holding their lane in between.
    await Promise.all(
      Array.from({ length: 6 }, () =>
        db.transaction().execute(async (tx) => {
          await audit.record(tx, read(tenantId, 1));
          await audit.record(tx, read(tenantId, 2));
        }),
      ),
    );
    const result = await audit.verify(tenantId);
    expect(result).toMatchObject({ ok: true, entries: 38 });
  });

  it('rolls the entry back with the caller’s transaction', async () => {
    const { tenantId } = await chainOf(1);
    await expect(
      db.transaction().execute(async (tx) => {
        await audit.record(tx, {
          tenantId,
          actor: { type: 'system', id: 't' },
          action: 'retention.swept',
          outcome: 'success',
          payload: { removed: 1 },
        });
        throw new Error('the change failed');
      }),
    ).rejects.toThrow('the change failed');
    expect((await audit.verify(tenantId)).entries).toBe(1);
    // The lane's head the rolled-back append would have moved is taken again.
    for (let i = 0; i < AUDIT_LANES + 1; i += 1) await audit.record(db, read(tenantId, i));
    expect(await audit.verify(tenantId)).toMatchObject({ ok: true, entries: AUDIT_LANES + 2 });
  });

  it('erases a subject’s personal data from the log without breaking the chain', async () => {
    const { tenantId } = await chainOf(3);
    const before = await audit.search(tenantId, { subjectId: 'sub_alice' }, { limit: 10 });
    expect(before.items[0]?.personal).toMatchObject({
      state: 'sealed',
      ip: '203.0.113.7',
      userAgent: 'Mozilla/5.0 test',
    });
    await avow.services.subjectKeys.destroy(db, tenantId, 'sub_alice', new Date());
    const after = await audit.search(tenantId, { subjectId: 'sub_alice' }, { limit: 10 });
    expect(after.items).toHaveLength(2);
    expect(after.items[0]?.personal).toEqual({ state: 'erased' });
    // Events after the erasure are still written, without the personal data,
    // although this process had the subject's key in hand from before.
    await audit.record(db, {
      tenantId,
      actor: { type: 'system', id: 'eraser' },
      action: 'subject.erased',
      subjectId: 'sub_alice',
      outcome: 'success',
      ip: '203.0.113.7',
    });
    const erased = await db
      .selectFrom('auditEvents')
      .select(['sealed', 'sealedKey'])
      .where('tenantId', '=', tenantId)
      .where('action', '=', 'subject.erased')
      .executeTakeFirstOrThrow();
    expect(erased).toEqual({ sealed: null, sealedKey: 'sub_alice' });
    expect((await audit.verify(tenantId)).ok).toBe(true);
    const history = await audit.accessHistory(tenantId, 'sub_alice');
    expect(history.map((h) => h.action)).toEqual([
      'subject.read',
      'subject.read',
      'subject.erased',
    ]);
    expect(history[0]).toMatchObject({
      actor: { type: 'api_key', id: 'key_reader' },
      purpose: 'support',
    });
  });

  it('prunes old entries from every lane and stays verifiable from a signed prune checkpoint', async () => {
    const { tenantId } = await chainOf(4);
    const sameLane = await inOneTransaction(tenantId, 3);
    const cutoff = new Date(Date.now() + 1);
    await new Promise((resolve) => setTimeout(resolve, 5));
    await audit.record(db, read(tenantId, 50));
    await audit.record(db, read(tenantId, 51));
    const pruned = await audit.prune(tenantId, cutoff);
    expect(pruned.removed).toBe(7);
    expect(pruned.through).toContainEqual({
      lane: sameLane[2]?.lane,
      seq: sameLane[2]?.seq,
    });
    const rows = await rowsOf(tenantId);
    expect(rows.map((r) => r.action)).toEqual(['subject.read', 'subject.read', 'audit.pruned']);
    const result = await audit.verify(tenantId);
    expect(result).toMatchObject({ ok: true, entries: 3, firstBad: null });
    // Deleting more from the start is not a prune: no signed prune checkpoint anchors it.
    const first = rows[0] as Row;
    await tamper([
      sql`delete from audit_events where tenant_id = ${tenantId} and id = ${first.id}`,
    ]);
    const tampered = await audit.verify(tenantId);
    expect(tampered.ok).toBe(false);
    expect(tampered.firstBad?.lane).toBe(first.lane);
  });

  it('prunes again after a prune, from the anchors the first one signed', async () => {
    const { tenantId } = await chainOf(6);
    const first = new Date(Date.now() + 1);
    await new Promise((resolve) => setTimeout(resolve, 5));
    await inOneTransaction(tenantId, 3);
    expect((await audit.prune(tenantId, first)).removed).toBe(6);
    const second = new Date(Date.now() + 1);
    await new Promise((resolve) => setTimeout(resolve, 5));
    await audit.record(db, read(tenantId, 60));
    // The three entries and the first prune's own entry go; lanes emptied before stay anchored.
    expect((await audit.prune(tenantId, second)).removed).toBe(4);
    expect((await rowsOf(tenantId)).map((r) => r.action)).toEqual(['subject.read', 'audit.pruned']);
    expect(await audit.verify(tenantId)).toMatchObject({ ok: true, entries: 2 });
  });

  it('prunes by a retention only entries whose time plus the retention has passed, at a month end', async () => {
    // An audit service on a clock the test moves; a tenant of its own, no personal data.
    let clock = new Date('2025-02-28T12:00:00.000Z');
    const timed = createAuditService({
      db,
      keyring: avow.services.keyring,
      subjectKeys: avow.services.subjectKeys,
      now: () => clock,
    });
    const tenantId = 'ten_01jmonthendprune0000000000';
    const at = [
      '2025-02-28T12:00:00.000Z', // + P6M = 28 Aug: due on 31 Aug
      '2025-02-28T23:59:59.999Z', // + P6M = 28 Aug: due
      '2025-03-01T00:00:00.000Z', // + P6M = 1 Sep: not due on 31 Aug
      '2025-03-02T12:00:00.000Z', // + P6M = 2 Sep: not due
    ];
    await db.transaction().execute(async (tx) => {
      for (const time of at) {
        clock = new Date(time);
        await timed.record(tx, {
          tenantId,
          actor: { type: 'system', id: 'test' },
          action: 'subject.read',
          subjectId: 'sub_monthend',
          outcome: 'success',
          payload: { count: 1 },
        });
      }
    });
    clock = new Date('2025-08-31T12:00:00.000Z');
    const pruned = await timed.prune(tenantId, 'P6M');
    expect(pruned).toMatchObject({ removed: 2, cutoff: '2025-03-01T00:00:00.000Z' });
    const left = await db
      .selectFrom('auditEvents')
      .select(['at', 'action'])
      .where('tenantId', '=', tenantId)
      .orderBy('position')
      .execute();
    expect(left.map((r) => [new Date(r.at).toISOString(), r.action])).toEqual([
      ['2025-03-01T00:00:00.000Z', 'subject.read'],
      ['2025-03-02T12:00:00.000Z', 'subject.read'],
      ['2025-08-31T12:00:00.000Z', 'audit.pruned'],
    ]);
    expect(await timed.verify(tenantId)).toMatchObject({ ok: true, entries: 3 });
  });

  it('an export that a prune races still verifies: the prune waits for the export to finish', async () => {
    const { tenantId } = await chainOf(5);
    await inOneTransaction(tenantId, 2);
    const cutoff = new Date(Date.now() + 1);
    await new Promise((resolve) => setTimeout(resolve, 5));
    await inOneTransaction(tenantId, 2);
    const lines = audit.exportJsonl(tenantId);
    // The header: checkpoints and heads are read, no entry yet.
    const first = await lines.next();
    let pruned: { removed: number } | undefined;
    const pruning = audit.prune(tenantId, cutoff).then((result) => {
      pruned = result;
      return result;
    });
    // Let the prune run as far as it can before the export goes on.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const prunedMidExport = pruned !== undefined;
    let text = String(first.value);
    for await (const line of lines) text += line;
    expect((await pruning).removed).toBe(7);

    const keyReply = await avow.call('GET', '/v1/audit/public-key', { token: null });
    const file = path.join(dir, `${tenantId}-raced.jsonl`);
    writeFileSync(file, text);
    // The log as it was before the prune, whole.
    expect(await verifyExportFile(file, keyReply.text)).toMatchObject({ ok: true, entries: 9 });
    expect(await audit.verify(tenantId)).toMatchObject({ ok: true, entries: 3 });
    expect(prunedMidExport).toBe(false);
  });

  it('an export whose reader stopped reading holds a prune back only so long: the prune gives up, removes nothing, and readers go on', async () => {
    const patient = auditWaitingBriefly();
    const { tenantId } = await chainOf(5);
    const cutoff = new Date(Date.now() + 1);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const before = await rowsOf(tenantId);
    const stalled = patient.exportJsonl(tenantId);
    await stalled.next(); // the header is read, then the reader goes quiet

    await expect(patient.prune(tenantId, cutoff)).rejects.toMatchObject({
      code: 'unavailable',
      message: expect.stringContaining('nothing was removed'),
    });
    expect(await rowsOf(tenantId)).toEqual(before);
    // Verifications are not held up behind the prune that gave up.
    expect(await patient.verify(tenantId)).toMatchObject({ ok: true, entries: 5 });

    // Once the stalled export is done with, the next prune runs.
    await stalled.return(undefined);
    expect((await patient.prune(tenantId, cutoff)).removed).toBe(5);
    expect(await patient.verify(tenantId)).toMatchObject({ ok: true });
  });

  it('a prune that gave up still waits for the export it gave up on: a later prune does not cut under it', async () => {
    const patient = auditWaitingBriefly();
    const { tenantId } = await chainOf(5);
    const cutoff = new Date(Date.now() + 1);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const slow = patient.exportJsonl(tenantId);
    let text = String((await slow.next()).value);
    await expect(patient.prune(tenantId, cutoff)).rejects.toMatchObject({ code: 'unavailable' });
    await expect(patient.prune(tenantId, cutoff)).rejects.toMatchObject({ code: 'unavailable' });
    for await (const line of slow) text += line;

    const keyReply = await avow.call('GET', '/v1/audit/public-key', { token: null });
    const file = path.join(dir, `${tenantId}-slow.jsonl`);
    writeFileSync(file, text);
    expect(await verifyExportFile(file, keyReply.text)).toMatchObject({ ok: true, entries: 5 });
  });

  it('refuses to prune a log that does not verify: nothing goes, and the refusal is logged', async () => {
    const { tenantId } = await chainOf(5);
    const cutoff = new Date(Date.now() + 1);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const recent = await inOneTransaction(tenantId, 3);
    // Entries newer than the cutoff deleted: a prune that signed the lanes'
    // new starts would make the gap look like a retention cut.
    const gone = recent[0] as Row;
    await tamper([sql`delete from audit_events where tenant_id = ${tenantId} and id = ${gone.id}`]);
    const before = await rowsOf(tenantId);

    await expect(audit.prune(tenantId, cutoff)).rejects.toMatchObject({
      code: 'conflict',
      message: expect.stringContaining('nothing was pruned'),
    });
    const after = await rowsOf(tenantId);
    expect(after.slice(0, -1)).toEqual(before);
    const refusal = await db
      .selectFrom('auditEvents')
      .select(['action', 'outcome', 'payload'])
      .where('tenantId', '=', tenantId)
      .where('id', '=', (after.at(-1) as Row).id)
      .executeTakeFirstOrThrow();
    expect(refusal).toMatchObject({
      action: 'audit.prune_refused',
      outcome: 'failure',
      payload: { before: cutoff.toISOString(), lane: gone.lane, seq: gone.seq },
    });
    // The tampering is still there to be found, and no prune checkpoint hides it.
    const result = await audit.verify(tenantId);
    expect(result.ok).toBe(false);
    expect(result.firstBad).toMatchObject({ lane: gone.lane, seq: gone.seq });
  });

  it('verifies an export offline, and the CLI names the tampered line', async () => {
    const { tenantId } = await chainOf(5);
    await inOneTransaction(tenantId, 2);
    const exported = await fetch(`${avow.baseUrl}/v1/audit/export?format=jsonl`, {
      headers: { authorization: `Bearer ${avow.operatorToken}`, 'avow-tenant': tenantId },
    });
    expect(exported.status).toBe(200);
    expect(exported.headers.get('content-type')).toContain('application/x-ndjson');
    const exportedText = await exported.text();
    const keyReply = await avow.call('GET', '/v1/audit/public-key', { token: null });
    const file = path.join(dir, `${tenantId}.jsonl`);
    const pem = path.join(dir, 'key.pem');
    writeFileSync(file, exportedText);
    writeFileSync(pem, keyReply.text);
    const ok = await verifyExportFile(file, keyReply.text);
    // 7 entries and the export's own audit.exported entry.
    expect(ok).toMatchObject({ ok: true, entries: 8, lanes: AUDIT_LANES });
    expect(await runCli(['audit', 'verify', '--file', file, '--public-key', pem, '--json'])).toBe(
      0,
    );

    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    type Line = { type: string; id?: string; lane?: number; seq?: number; purpose?: string };
    const parsed = lines.map((line) => JSON.parse(line) as Line);
    const entries = parsed.filter((l) => l.type === 'entry');
    const target = entries.slice(1).find((l) => l.lane !== 0) as Line;
    const edited = parsed.map((value, i) =>
      value.id === target.id ? JSON.stringify({ ...value, purpose: 'sales' }) : lines[i],
    );
    const editedFile = path.join(dir, 'edited.jsonl');
    writeFileSync(editedFile, `${edited.join('\n')}\n`);
    const bad: VerifyResult = await verifyExportFile(editedFile, keyReply.text);
    expect(bad.firstBad).toMatchObject({ lane: target.lane, seq: target.seq, entryId: target.id });
    expect(
      await runCli(['audit', 'verify', '--file', editedFile, '--public-key', pem, '--json']),
    ).toBe(1);

    // The last entry of the two-entry lane cut from the file.
    const pair = entries.filter((l) => l.lane === entries.at(-2)?.lane);
    const cutEntry = pair.at(-1) as Line;
    const cutFile = path.join(dir, 'cut.jsonl');
    writeFileSync(cutFile, `${lines.filter((_, i) => parsed[i]?.id !== cutEntry.id).join('\n')}\n`);
    expect((await verifyExportFile(cutFile, keyReply.text)).firstBad).toMatchObject({
      lane: cutEntry.lane,
      seq: cutEntry.seq,
    });

    // Without a lane's head line the end of that lane cannot be checked.
    const headless = path.join(dir, 'headless.jsonl');
    writeFileSync(
      headless,
      `${lines.filter((_, i) => !(parsed[i]?.type === 'head' && parsed[i]?.lane === cutEntry.lane)).join('\n')}\n`,
    );
    const noHead = await verifyExportFile(headless, keyReply.text);
    expect(noHead.ok).toBe(false);
    expect(noHead.firstBad?.reason).toMatch(/head of lane .* is missing/);
  });
});
