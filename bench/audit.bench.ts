import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { ChainEntry } from '../src/audit/audit-chain.js';
import { type AuditService, createAuditService } from '../src/audit/audit-service.js';
import { generateInstallationKeys } from '../src/crypto/installation-keys.js';
import { createKeyring, seal } from '../src/crypto/keyring.js';
import { createSubjectKeys } from '../src/crypto/subject-keys.js';
import { type Database, type Db, openDatabase } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { newId } from '../src/ids/ids.js';
import { createTenantService } from '../src/tenancy/tenants-service.js';
import type { BenchResult } from './lib.js';

/**
 * Issue 5: appends per second with the hash chains (lane lock, hash, signed
 * lane head, sealed IP and user agent) against plain inserts of the same rows into
 * a table of the same shape without chaining, in the same run, with
 * concurrent writers; and verification speed. One event per transaction on
 * both sides, as in the service (a change and its audit entry commit together).
 */
const EVENTS = Number(process.env.AVOW_BENCH_AUDIT_EVENTS ?? '3000');
const WRITERS = 8;
const SUBJECTS = 50;

async function open(): Promise<{ database: Database; kind: string; drop: () => Promise<void> }> {
  const url = process.env.DATABASE_URL;
  if (!url) {
    const database = await openDatabase({ kind: 'pglite' });
    return { database, kind: 'PGlite', drop: () => database.close() };
  }
  const schema = `bench_audit_${randomBytes(4).toString('hex')}`;
  const admin = await openDatabase({ kind: 'postgres', url, poolSize: 1 });
  await sql`create schema ${sql.id(schema)}`.execute(admin.db);
  await admin.close();
  const database = await openDatabase({ kind: 'postgres', url, schema, poolSize: WRITERS + 2 });
  return {
    database,
    kind: 'PostgreSQL',
    drop: async () => {
      await sql`drop schema ${sql.id(schema)} cascade`.execute(database.db);
      await database.close();
    },
  };
}

/** Runs `count` tasks with `writers` at a time; returns tasks per second. */
async function rate(
  count: number,
  writers: number,
  task: (i: number) => Promise<void>,
): Promise<number> {
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: writers }, async () => {
      for (let i = next++; i < count; i = next++) await task(i);
    }),
  );
  return count / (Number(process.hrtime.bigint() - started) / 1e9);
}

function event(tenantId: string, i: number) {
  return {
    tenantId,
    actor: { type: 'api_key' as const, id: 'key_bench' },
    action: 'subject.read' as const,
    subjectId: `sub_${i % SUBJECTS}`,
    categories: ['user.contact.email'],
    purpose: 'support',
    outcome: 'success' as const,
    ip: '203.0.113.7',
    userAgent: 'Mozilla/5.0 (bench)',
    requestId: `rid_${i}`,
    payload: { count: 1 },
  };
}

export async function run(): Promise<BenchResult[]> {
  const { database, kind, drop } = await open();
  const db: Db = database.db;
  try {
    const migrated = await migrateToLatest(db);
    if (!migrated.ok) throw migrated.error;
    const keys = generateInstallationKeys();
    const keyring = createKeyring({
      masterKeys: [{ version: 1, key: keys.masterKey }],
      signingKey: keys.signingKey,
    });
    const subjectKeys = createSubjectKeys({ keyring });
    // As the server runs it: keys kept between appends while writes are heard.
    await database.writes.listen();
    const audit: AuditService = createAuditService({
      db,
      keyring,
      subjectKeys,
      writes: database.writes,
    });
    const tenantId = (
      await createTenantService({ db, audit }).create({
        name: 'Bench',
        role: 'controller',
        region: 'eu',
      })
    ).id;
    // Same columns, primary key, unique id and search indexes as audit_events, so
    // the baseline pays the same index upkeep per row (not the append-only triggers,
    // which fire on UPDATE and DELETE only).
    await sql`create table bench_plain_audit (like audit_events including all)`.execute(db);

    // The same rows, sealed the same way, prepared outside the timing.
    const subjectKey = new Map<string, Buffer>();
    for (let s = 0; s < SUBJECTS; s += 1)
      subjectKey.set(`sub_${s}`, await subjectKeys.getOrCreate(db, tenantId, `sub_${s}`));
    const rows: ChainEntry[] = Array.from({ length: EVENTS }, (_, i) => {
      const e = event(tenantId, i);
      const id = newId('auditEvent');
      const key = subjectKey.get(e.subjectId) ?? Buffer.alloc(32);
      return {
        tenantId,
        lane: 0,
        seq: i + 1,
        position: 0, // the table's default (the sequence) gives it
        id,
        at: new Date().toISOString(),
        actorType: e.actor.type,
        actorId: e.actor.id,
        action: e.action,
        subjectId: e.subjectId,
        categories: e.categories,
        purpose: e.purpose,
        outcome: e.outcome,
        requestId: e.requestId,
        payload: e.payload,
        sealed: seal(
          key,
          JSON.stringify({ ip: e.ip, userAgent: e.userAgent }),
          `avow/audit/${tenantId}/${id}`,
        ).toString('base64'),
        sealedKey: e.subjectId,
        prevHash: '00'.repeat(32),
        hash: '00'.repeat(32),
      };
    });
    const plainInsert = (r: ChainEntry) =>
      db.transaction().execute((tx) =>
        sql`insert into bench_plain_audit (tenant_id, seq, id, at, actor_type, actor_id, action, subject_id, categories, purpose, outcome, request_id, payload, sealed, sealed_key, prev_hash, hash)
            values (${r.tenantId}, ${r.seq}, ${r.id}, ${r.at}, ${r.actorType}, ${r.actorId}, ${r.action}, ${r.subjectId}, ${r.categories}, ${r.purpose}, ${r.outcome}, ${r.requestId}, ${JSON.stringify(r.payload)}, ${Buffer.from(r.sealed ?? '', 'base64')}, ${r.sealedKey}, ${Buffer.alloc(32)}, ${Buffer.alloc(32)})`.execute(
          tx,
        ),
      );

    // Warm-up on both paths, then the measured runs alternate so drift hits both.
    await rate(100, WRITERS, (i) => audit.record(db, event(tenantId, i)));
    await rate(
      100,
      WRITERS,
      async (i) =>
        void (await plainInsert({
          ...(rows[i] as ChainEntry),
          seq: EVENTS + i + 1,
          id: `warm_${i}`,
        })),
    );
    const half = Math.floor(EVENTS / 2);
    const plainA = await rate(
      half,
      WRITERS,
      async (i) => void (await plainInsert(rows[i] as ChainEntry)),
    );
    const chainedA = await rate(half, WRITERS, (i) => audit.record(db, event(tenantId, i)));
    const plainB = await rate(
      EVENTS - half,
      WRITERS,
      async (i) => void (await plainInsert(rows[half + i] as ChainEntry)),
    );
    const chainedB = await rate(EVENTS - half, WRITERS, (i) =>
      audit.record(db, event(tenantId, half + i)),
    );
    const plain = Math.max(plainA, plainB);
    const chained = Math.max(chainedA, chainedB);

    const started = process.hrtime.bigint();
    const verified = await audit.verify(tenantId);
    const verifySeconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (!verified.ok)
      throw new Error(`the benchmark chain does not verify: ${verified.firstBad?.reason}`);

    return [
      {
        name: `audit: chained appends, ${WRITERS} concurrent writers, one tenant (${kind})`,
        value: chained,
        unit: 'events/s',
        baseline: { name: 'plain inserts of the same sealed rows, no chain', value: plain },
        ratio: chained / plain,
        target: 0.5,
        notes: `${EVENTS} events each side, one transaction each; chained = lane lock + SHA-256 + Ed25519-signed lane head + seal under the subject key (reused, checked in the append) per event`,
      },
      {
        name: `audit: verification (${kind})`,
        value: verified.entries / verifySeconds,
        unit: 'entries/s',
        notes: `${verified.entries} entries, ${verified.checkpoints} signed checkpoints, read from the database and checked`,
      },
    ];
  } finally {
    await drop();
  }
}
