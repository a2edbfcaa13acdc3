import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Migrator, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  chainHash,
  checkpointBytes,
  GENESIS_HASH,
  headBytes,
} from '../../src/audit/audit-chain.js';
import { verifyExportFile } from '../../src/audit/audit-offline.js';
import { type AuditService, createAuditService } from '../../src/audit/audit-service.js';
import { generateInstallationKeys } from '../../src/crypto/installation-keys.js';
import { createKeyring, type Keyring } from '../../src/crypto/keyring.js';
import { createSubjectKeys } from '../../src/crypto/subject-keys.js';
import type { Database } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { migrations } from '../../src/db/migrations/index.js';
import { openTestDatabase } from '../support/database.js';

/**
 * A log written before lanes (one chain per tenant, migration 0004's shape)
 * must still verify after migration 0010, and grow lanes from there.
 */
let database: Database;
let keyring: Keyring;
let audit: AuditService;
const tenantId = 'ten_01legacy0000000000000000';
const legacyIds: string[] = [];

beforeAll(async () => {
  database = await openTestDatabase({ migrate: false });
  const db = database.db;
  const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(db);
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    migrationTableName: 'avow_migrations',
    migrationLockTableName: 'avow_migrations_lock',
    migrationTableSchema: rows[0]?.schema ?? 'public',
  });
  const before = await migrator.migrateTo('0009_retention_indexes');
  if (before.error) throw before.error;

  const keys = generateInstallationKeys();
  keyring = createKeyring({
    masterKeys: [{ version: 1, key: keys.masterKey }],
    signingKey: keys.signingKey,
  });
  // Five entries, a checkpoint at seq 4 and a head, as the single-chain code wrote them.
  let prev = GENESIS_HASH;
  for (let seq = 1; seq <= 5; seq += 1) {
    const body = {
      tenantId,
      lane: 0,
      seq,
      id: `evt_01legacy${String(seq).padStart(16, '0')}`,
      at: new Date(Date.UTC(2025, 0, seq)).toISOString(),
      actorType: 'system',
      actorId: 'legacy',
      action: 'retention.swept',
      subjectId: null,
      categories: null,
      purpose: null,
      outcome: 'success',
      requestId: null,
      payload: { removed: seq },
      sealed: null,
      sealedKey: null,
    };
    const hash = chainHash(prev, body);
    await sql`insert into audit_events (tenant_id, seq, id, at, actor_type, actor_id, action, outcome, payload, prev_hash, hash)
      values (${tenantId}, ${seq}, ${body.id}, ${body.at}, 'system', 'legacy', 'retention.swept', 'success',
              ${JSON.stringify(body.payload)}, ${Buffer.from(prev, 'hex')}, ${Buffer.from(hash, 'hex')})`.execute(
      db,
    );
    legacyIds.push(body.id);
    if (seq === 4) {
      const checkpoint = {
        tenantId,
        seq,
        id: 'ckp_01legacy0000000000000000',
        kind: 'interval' as const,
        hash,
        at: body.at,
      };
      await sql`insert into audit_checkpoints (tenant_id, seq, kind, id, hash, at, signature)
        values (${tenantId}, ${seq}, 'interval', ${checkpoint.id}, ${Buffer.from(hash, 'hex')}, ${body.at},
                ${keyring.sign(checkpointBytes(checkpoint))})`.execute(db);
    }
    prev = hash;
  }
  const head = { tenantId, lane: 0, lanes: null, seq: 5, hash: prev };
  await sql`insert into audit_heads (tenant_id, seq, hash, signature)
    values (${tenantId}, 5, ${Buffer.from(prev, 'hex')}, ${keyring.sign(headBytes(head))})`.execute(
    db,
  );

  const after = await migrateToLatest(db);
  if (!after.ok) throw after.error;
  audit = createAuditService({ db, keyring, subjectKeys: createSubjectKeys({ keyring }) });
});
afterAll(async () => {
  await database?.close();
});

const event = (i: number) => ({
  tenantId,
  actor: { type: 'system' as const, id: 'new' },
  action: 'retention.swept' as const,
  outcome: 'success' as const,
  payload: { removed: i },
});

describe('a log from before lanes', () => {
  it('verifies as lane 0, its entries keeping their seq as their position', async () => {
    const result = await audit.verify(tenantId);
    expect(result).toMatchObject({
      ok: true,
      entries: 5,
      checkpoints: 1,
      lanes: 1,
      firstPosition: 1,
      lastPosition: 5,
    });
    const rows = await database.db
      .selectFrom('auditEvents')
      .select(['lane', 'seq', 'position'])
      .where('tenantId', '=', tenantId)
      .orderBy('position')
      .execute();
    // An export of this log in the format of before lanes (version 1) verifies offline too.
    let text = '';
    for await (const line of audit.exportJsonl(tenantId)) {
      const { lane: _lane, lanes: _lanes, position: _position, ...v1 } = JSON.parse(line);
      text += `${JSON.stringify(v1.type === 'header' ? { ...v1, version: 1 } : v1)}\n`;
    }
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'avow-audit-v1-')), 'v1.jsonl');
    writeFileSync(file, text);
    expect(text).not.toContain('"lane"');
    expect(await verifyExportFile(file, keyring.publicKeyPem)).toMatchObject({
      ok: true,
      entries: 5,
    });
    expect(rows.map((r) => [Number(r.lane), Number(r.seq), Number(r.position)])).toEqual([
      [0, 1, 1],
      [0, 2, 2],
      [0, 3, 3],
      [0, 4, 4],
      [0, 5, 5],
    ]);
  });

  it('grows lanes on the next appends and stays verifiable, online and offline', async () => {
    for (let i = 0; i < 20; i += 1) await audit.record(database.db, event(i));
    const result = await audit.verify(tenantId);
    expect(result).toMatchObject({ ok: true, entries: 25 });
    expect(result.lanes).toBeGreaterThan(1);
    // New positions come after the old ones.
    const rows = await database.db
      .selectFrom('auditEvents')
      .select(['id', 'position'])
      .where('tenantId', '=', tenantId)
      .orderBy('position')
      .execute();
    expect(rows.slice(0, 5).map((r) => r.id)).toEqual(legacyIds);

    const dir = mkdtempSync(path.join(tmpdir(), 'avow-audit-upgrade-'));
    const file = path.join(dir, 'export.jsonl');
    let text = '';
    for await (const line of audit.exportJsonl(tenantId)) text += line;
    writeFileSync(file, text);
    expect(await verifyExportFile(file, keyring.publicKeyPem)).toMatchObject({
      ok: true,
      entries: 25,
    });
  });

  it('still finds a change to an entry written before lanes', async () => {
    const db = database.db;
    const setAction = (action: string) =>
      db.transaction().execute(async (tx) => {
        await sql`alter table audit_events disable trigger audit_events_append_only`.execute(tx);
        await sql`update audit_events set action = ${action} where tenant_id = ${tenantId} and lane = 0 and seq = 2`.execute(
          tx,
        );
        await sql`alter table audit_events enable trigger audit_events_append_only`.execute(tx);
      });
    await setAction('subject.read');
    const result = await audit.verify(tenantId);
    expect(result.firstBad).toMatchObject({ lane: 0, seq: 2, entryId: legacyIds[1] });
    await setAction('retention.swept');
    expect((await audit.verify(tenantId)).ok).toBe(true);
  });

  it('prunes the old entries and their checkpoint, every lane anchored', async () => {
    const pruned = await audit.prune(tenantId, new Date(Date.UTC(2025, 5, 1)));
    expect(pruned).toMatchObject({ removed: 5, through: [{ lane: 0, seq: 5 }] });
    const checkpoints = await database.db
      .selectFrom('auditCheckpoints')
      .select(['id', 'kind'])
      .where('tenantId', '=', tenantId)
      .execute();
    expect(checkpoints.map((c) => c.id)).not.toContain('ckp_01legacy0000000000000000');
    expect(checkpoints.filter((c) => c.kind === 'prune')).toHaveLength(1);
    expect(await audit.verify(tenantId)).toMatchObject({ ok: true, entries: 21 });
  });
});
