/**
 * Records expired per second: 1,000,000 vault records (AVOW_BENCH_RETENTION_RECORDS) of which
 * 10% are due under a `collected` rule, swept by the retention service (find + delete in
 * batches + audit entries), against a baseline measured in the same run on the same rows: a
 * plain DELETE by id list in the same batch size, a transaction per batch (rolled back, so the
 * sweep finds the rows). Target: ratio >= 0.1.
 * PGlite, or PostgreSQL when DATABASE_URL is set.
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { createAuditService } from '../src/audit/audit-service.js';
import { generateInstallationKeys } from '../src/crypto/installation-keys.js';
import { createKeyring } from '../src/crypto/keyring.js';
import { createSubjectKeys } from '../src/crypto/subject-keys.js';
import { type Database, openDatabase } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { createPolicySource } from '../src/decisions/policy-source.js';
import { registerSchema } from '../src/register/register-schema.js';
import { createRegisterService } from '../src/register/register-service.js';
import { insertVersion, setActive } from '../src/register/register-store.js';
import { createRetentionService } from '../src/retention/retention-service.js';
import { boundaryRegister } from '../test/retention/support.js';
import type { BenchResult } from './lib.js';

const BATCH = 5000;

async function open(): Promise<Database> {
  const url = process.env.DATABASE_URL;
  if (!url) return openDatabase({ kind: 'pglite' });
  const schema = `bench_${randomBytes(6).toString('hex')}`;
  const admin = await openDatabase({ kind: 'postgres', url, poolSize: 1 });
  await sql`create schema ${sql.id(schema)}`.execute(admin.db);
  await admin.close();
  const scoped = await openDatabase({ kind: 'postgres', url, schema });
  return {
    ...scoped,
    close: async () => {
      await sql`drop schema ${sql.id(schema)} cascade`.execute(scoped.db);
      await scoped.close();
    },
  };
}

export async function run(): Promise<BenchResult[]> {
  const total = Number(process.env.AVOW_BENCH_RETENTION_RECORDS ?? 1_000_000);
  const database = await open();
  const { db } = database;
  try {
    const migrated = await migrateToLatest(db);
    if (!migrated.ok) throw migrated.error;
    const tenantId = 'ten_01jbenchretention000000000';
    await db
      .insertInto('tenants')
      .values({
        id: tenantId,
        name: 'Bench',
        role: 'controller',
        controller: 'null',
        region: 'eu',
        contractStart: '2020-01-01',
        updatedAt: new Date(),
      })
      .execute();
    const versionId = 'rv_01jbenchretention0000000000';
    await insertVersion(db, {
      id: versionId,
      tenantId,
      number: 1,
      contentHash: 'bench',
      yaml: '{}',
      register: registerSchema.parse(boundaryRegister),
      createdBy: null,
    });
    await setActive(db, tenantId, versionId, null, new Date());

    // Ten records per subject; every tenth record is usage data collected two years ago (due under P1M).
    const started = performance.now();
    await sql`insert into subjects (tenant_id, id, kind) select ${tenantId}, 'sub_' || lpad(g::text, 12, '0'), 'customer' from generate_series(1, ${Math.ceil(total / 10)}) g`.execute(
      db,
    );
    await sql`
      insert into vault_records (tenant_id, id, subject_id, category, source, purposes, sealed, collected_at)
      select ${tenantId}, 'rec_' || lpad(g::text, 12, '0'), 'sub_' || lpad(((g - 1) / 10 + 1)::text, 12, '0'),
        case when g % 10 = 0 then 'user.behavior' else 'user.name' end, 'subject',
        case when g % 10 = 0 then array['analytics'] else array['service'] end,
        '\\x00112233445566778899aabbccddeeff'::bytea,
        case when g % 10 = 0 then now() - interval '2 years' else now() - interval '1 day' end
      from generate_series(1, ${total}) g`.execute(db);
    await sql`analyze`.execute(db);
    const loadSeconds = (performance.now() - started) / 1000;

    // Baseline: the same rows deleted by id list, in the same batches, a transaction per batch
    // (as the sweep), each rolled back so the sweep finds the rows.
    const ids = (
      await sql<{
        id: string;
      }>`select id from vault_records where tenant_id = ${tenantId} and category = 'user.behavior' and collected_at < now() - interval '1 month' order by subject_id, id`.execute(
        db,
      )
    ).rows.map((r) => r.id);
    const baseStart = performance.now();
    for (let i = 0; i < ids.length; i += BATCH) {
      await db
        .transaction()
        .execute(async (tx) => {
          await sql`delete from vault_records where tenant_id = ${tenantId} and id = any(${sql.val(ids.slice(i, i + BATCH))}::text[])`.execute(
            tx,
          );
          throw new RollBack();
        })
        .catch((error: unknown) => {
          if (!(error instanceof RollBack)) throw error;
        });
    }
    const baseSeconds = (performance.now() - baseStart) / 1000;

    const generated = generateInstallationKeys();
    const keyring = createKeyring({
      masterKeys: [{ version: 1, key: generated.masterKey }],
      signingKey: generated.signingKey,
    });
    const audit = createAuditService({ db, keyring, subjectKeys: createSubjectKeys({ keyring }) });
    const retention = createRetentionService({
      db,
      policies: createPolicySource({ registers: createRegisterService({ db, audit }) }),
      audit,
      vault: { pseudonymizeUnlessHeld: async () => ({ outcome: 'pseudonymized' as const }) },
      batchSize: BATCH,
    });
    const sweepStart = performance.now();
    const result = await retention.run({ actor: { type: 'system', id: 'bench' } }, tenantId);
    const sweepSeconds = (performance.now() - sweepStart) / 1000;
    if (result.report.total !== ids.length)
      throw new Error(`The sweep removed ${result.report.total} records, expected ${ids.length}`);

    const sweepRate = ids.length / sweepSeconds;
    const baseRate = ids.length / baseSeconds;
    return [
      {
        name: `retention sweep, ${total.toLocaleString('en-US')} records, ${ids.length.toLocaleString('en-US')} due`,
        value: sweepRate,
        unit: 'records/s',
        baseline: { name: 'DELETE by id list, same rows and batches', value: baseRate },
        ratio: sweepRate / baseRate,
        // The sweep also finds the rows, reads holds, deletes history and writes the audit entries;
        // 0.1 guards against the full-table find (0.04 to 0.07 before migration 0009).
        target: 0.1,
        notes: `sweep ${sweepSeconds.toFixed(1)} s (find, batches, audit); baseline ${baseSeconds.toFixed(1)} s; bulk load ${loadSeconds.toFixed(1)} s`,
      },
    ];
  } finally {
    await database.close();
  }
}

class RollBack extends Error {}
