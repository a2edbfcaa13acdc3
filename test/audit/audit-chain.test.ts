import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VerifyResult } from '../../src/audit/audit-chain.js';
import { verifyExportFile } from '../../src/audit/audit-offline.js';
import { type AuditService, createAuditService } from '../../src/audit/audit-service.js';
import { runCli } from '../../src/cli/main.js';
import type { Db } from '../../src/db/database.js';
import { startTestAvow, type TestAvow } from '../support/avow.js';

/**
 * Tamper evidence, tried the way an attacker with database access would: edit,
 * delete, reorder, cut, forge. Every one must be found and located.
 */
let avow: TestAvow;
let db: Db;
let audit: AuditService;
const dir = mkdtempSync(path.join(tmpdir(), 'avow-audit-'));

beforeAll(async () => {
  avow = await startTestAvow();
  db = avow.database.db;
  // Checkpoints every 4 entries so the short chains here have several.
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

/** A tenant with `count` events about one subject, from an IP. */
async function chainOf(count: number): Promise<{ tenantId: string; ids: string[] }> {
  const tenant = await avow.services.tenants.create({
    name: 'Chain',
    role: 'controller',
    region: 'eu',
  });
  for (let i = 0; i < count - 1; i += 1) {
    await audit.record(db, {
      tenantId: tenant.id,
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
  }
  const rows = await db
    .selectFrom('auditEvents')
    .select(['id'])
    .where('tenantId', '=', tenant.id)
    .orderBy('seq')
    .execute();
  return { tenantId: tenant.id, ids: rows.map((r) => r.id) };
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
  it('verifies an untouched chain, with interval checkpoints, and the tenant.created event first', async () => {
    const { tenantId, ids } = await chainOf(9);
    const result = await audit.verify(tenantId);
    expect(result).toMatchObject({ ok: true, entries: 9, firstSeq: 1, lastSeq: 9, firstBad: null });
    expect(result.checkpoints).toBe(2);
    const first = await db
      .selectFrom('auditEvents')
      .select(['action', 'id'])
      .where('tenantId', '=', tenantId)
      .where('seq', '=', 1)
      .executeTakeFirstOrThrow();
    expect(first).toEqual({ action: 'tenant.created', id: ids[0] });
  });

  it('stores IP and user agent sealed, never in clear', async () => {
    const { tenantId } = await chainOf(2);
    const row = await sql<{
      text: string;
    }>`select encode(sealed, 'escape') || payload::text as text from audit_events where tenant_id = ${tenantId} and seq = 2`.execute(
      db,
    );
    expect(row.rows[0]?.text).not.toContain('203.0.113.7');
    expect(row.rows[0]?.text).not.toContain('Mozilla');
  });

  it('locates a changed field', async () => {
    const { tenantId, ids } = await chainOf(6);
    await tamper([
      sql`update audit_events set purpose = 'marketing' where tenant_id = ${tenantId} and seq = 3`,
    ]);
    const result = await audit.verify(tenantId);
    expect(result.ok).toBe(false);
    expect(result.firstBad).toMatchObject({ seq: 3, entryId: ids[2] });
  });

  it('locates a deleted row', async () => {
    const { tenantId } = await chainOf(6);
    await tamper([sql`delete from audit_events where tenant_id = ${tenantId} and seq = 3`]);
    const result = await audit.verify(tenantId);
    expect(result.ok).toBe(false);
    expect(result.firstBad?.seq).toBe(3);
    expect(result.firstBad?.reason).toMatch(/missing/);
  });

  it('locates reordered rows', async () => {
    const { tenantId } = await chainOf(6);
    await tamper([
      sql`update audit_events set seq = -1 where tenant_id = ${tenantId} and seq = 2`,
      sql`update audit_events set seq = 2 where tenant_id = ${tenantId} and seq = 4`,
      sql`update audit_events set seq = 4 where tenant_id = ${tenantId} and seq = -1`,
    ]);
    const result = await audit.verify(tenantId);
    expect(result.ok).toBe(false);
    expect(result.firstBad?.seq).toBe(2);
  });

  it('locates a cut tail, also when the head is rewound to match', async () => {
    const { tenantId } = await chainOf(7);
    await tamper([sql`delete from audit_events where tenant_id = ${tenantId} and seq >= 6`]);
    const cut = await audit.verify(tenantId);
    expect(cut.ok).toBe(false);
    expect(cut.firstBad?.seq).toBe(6);

    await sql`update audit_heads set seq = 5, hash = (select hash from audit_events where tenant_id = ${tenantId} and seq = 5) where tenant_id = ${tenantId}`.execute(
      db,
    );
    const rewound = await audit.verify(tenantId);
    expect(rewound.ok).toBe(false);
    expect(rewound.firstBad?.seq).toBe(6);
  });

  it('locates a forged checkpoint signature', async () => {
    const { tenantId } = await chainOf(3);
    const made = await audit.checkpoint(tenantId);
    expect(made?.seq).toBe(3);
    await tamper([
      sql`update audit_checkpoints set signature = decode(repeat('ab', 64), 'hex') where tenant_id = ${tenantId} and seq = 3`,
    ]);
    const result = await audit.verify(tenantId);
    expect(result.ok).toBe(false);
    expect(result.firstBad).toMatchObject({ seq: 3, checkpointId: made?.id });
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

  it('keeps one unbroken chain under concurrent writers', async () => {
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
    const result = await audit.verify(tenantId);
    expect(result).toMatchObject({ ok: true, entries: 26, lastSeq: 26 });
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
    // Events after the erasure are still written, without the personal data.
    await audit.record(db, {
      tenantId,
      actor: { type: 'system', id: 'eraser' },
      action: 'subject.erased',
      subjectId: 'sub_alice',
      outcome: 'success',
      ip: '203.0.113.7',
    });
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

  it('prunes old entries and stays verifiable from a signed prune checkpoint', async () => {
    const { tenantId } = await chainOf(4);
    const cutoff = new Date(Date.now() + 1);
    await new Promise((resolve) => setTimeout(resolve, 5));
    await audit.record(db, {
      tenantId,
      actor: { type: 'system', id: 't' },
      action: 'retention.swept',
      outcome: 'success',
      payload: { removed: 0 },
    });
    const pruned = await audit.prune(tenantId, cutoff);
    expect(pruned).toMatchObject({ removed: 4, throughSeq: 4 });
    const result = await audit.verify(tenantId);
    expect(result).toMatchObject({ ok: true, firstSeq: 5, lastSeq: 6 });
    // Deleting more from the start is not a prune: no signed prune checkpoint anchors it.
    await tamper([sql`delete from audit_events where tenant_id = ${tenantId} and seq = 5`]);
    const tampered = await audit.verify(tenantId);
    expect(tampered.ok).toBe(false);
    expect(tampered.firstBad?.seq).toBe(5);
  });

  it('verifies an export offline, and the CLI names the tampered line', async () => {
    const { tenantId } = await chainOf(5);
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
    // 5 entries and the export's own audit.exported entry.
    expect(ok).toMatchObject({ ok: true, entries: 6 });
    expect(await runCli(['audit', 'verify', '--file', file, '--public-key', pem, '--json'])).toBe(
      0,
    );

    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    const edited = lines.map((line) => {
      const value = JSON.parse(line) as { type: string; seq?: number; purpose?: string };
      return value.type === 'entry' && value.seq === 4
        ? JSON.stringify({ ...value, purpose: 'sales' })
        : line;
    });
    const editedFile = path.join(dir, 'edited.jsonl');
    writeFileSync(editedFile, `${edited.join('\n')}\n`);
    const bad: VerifyResult = await verifyExportFile(editedFile, keyReply.text);
    expect(bad.firstBad?.seq).toBe(4);
    expect(
      await runCli(['audit', 'verify', '--file', editedFile, '--public-key', pem, '--json']),
    ).toBe(1);

    const cutFile = path.join(dir, 'cut.jsonl');
    writeFileSync(cutFile, `${lines.filter((l) => !l.includes('"seq":6,')).join('\n')}\n`);
    expect((await verifyExportFile(cutFile, keyReply.text)).firstBad?.seq).toBe(6);
  });
});
