/**
 * Servers for the vault benchmark, in one child process: a bare Fastify route
 * and Avow on an in-memory PGlite (or DATABASE_URL) with 100,000 subjects
 * loaded in bulk SQL. Also measures in-process decisions and erasure, and
 * prints everything as one JSON line when ready.
 */
import Fastify from 'fastify';
import { sql } from 'kysely';
import { generateInstallationKeys } from '../../src/crypto/installation-keys.js';
import { newId } from '../../src/ids/ids.js';
import { registerSchema } from '../../src/register/register-schema.js';
import { insertVersion, setActive } from '../../src/register/register-store.js';
import { createAvow } from '../../src/server/app.js';
import { createLogger, logDestination } from '../../src/server/logger.js';
import { openTestDatabase } from '../../test/support/database.js';
import { testRegister } from '../../test/vault/support.js';

const SUBJECTS = 100_000;
// The bare route answers a real decision's body (set below, once there is one),
// with none of the work, so both sides serialize and send the same bytes.
let decisionBody: unknown = null;
const bare = Fastify();
bare.post('/bare', async () => decisionBody);
await bare.listen({ port: 0, host: '127.0.0.1' });

// A fresh, migrated database: in-memory PGlite, or a schema of its own on the
// server at DATABASE_URL that is dropped again when the bench stops.
const database = await openTestDatabase();
const generated = generateInstallationKeys();
const { app, services } = await createAvow({
  database,
  keys: generated,
  logger: createLogger('info', logDestination('/dev/null')),
  publicUrl: 'http://127.0.0.1',
  worker: false,
});
await app.listen({ port: 0, host: '127.0.0.1' });
const db = database.db;
const tenant = await services.tenants.create({ name: 'Bench', role: 'controller', region: 'eu' });
const key = await services.apiKeys.create({
  name: 'bench',
  scopes: ['vault:read', 'vault:write'],
  tenantId: tenant.id,
  createdBy: null,
});
const versionId = newId('registerVersion');
await insertVersion(db, {
  id: versionId,
  tenantId: tenant.id,
  number: 1,
  contentHash: 'bench',
  yaml: '',
  register: registerSchema.parse(testRegister),
  createdBy: null,
});
await setActive(db, tenant.id, versionId, null, new Date());

// 100,000 subjects and a consent state for every other one, in two statements.
const loadStart = performance.now();
await sql`insert into subjects (tenant_id, id, kind, relationship_started_at)
  select ${tenant.id}, 'sub_bench' || lpad(g::text, 19, '0'), 'customer', now() - interval '1 year'
  from generate_series(1, ${SUBJECTS}) g`.execute(db);
await sql`insert into subject_purpose_state (tenant_id, subject_id, purpose, consent, consent_at)
  select ${tenant.id}, 'sub_bench' || lpad(g::text, 19, '0'), 'newsletter', 'given', now()
  from generate_series(1, ${SUBJECTS}, 2) g`.execute(db);
await sql`analyze subjects`.execute(db);
await sql`analyze subject_purpose_state`.execute(db);
const loadSeconds = (performance.now() - loadStart) / 1000;
const subjectAt = (i: number) => `sub_bench${String(i).padStart(19, '0')}`;

const ctx = { tenantId: tenant.id, actor: { type: 'system' as const, id: 'bench' } };
// In process: the decision service, one call after another, each subject new to it.
const latencies: number[] = [];
const inProcessStart = performance.now();
for (let i = 0; i < 3000; i++) {
  const t = performance.now();
  await services.decisions.decide(ctx, {
    subjectId: subjectAt(1 + ((i * 7919) % SUBJECTS)),
    purpose: 'newsletter',
  });
  latencies.push(performance.now() - t);
}
const inProcessSeconds = (performance.now() - inProcessStart) / 1000;
decisionBody = await services.decisions.decide(ctx, {
  subjectId: subjectAt(1),
  purpose: 'newsletter',
});
latencies.sort((a, b) => a - b);
const pct = (p: number) =>
  latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0;

// Batch: 10,000 subjects in one call.
const batchIds = Array.from({ length: 10_000 }, (_, i) => subjectAt(1 + i * 10));
const batchStart = performance.now();
await services.decisions.decideBatch(ctx, { purpose: 'newsletter', subjectIds: batchIds });
const batchMs = performance.now() - batchStart;

// Erasure of a subject with 10 and with 10,000 records.
async function eraseWith(records: number): Promise<number> {
  const { subject } = await services.vault.findOrCreate(ctx, {
    kind: 'customer',
    identities: [{ kind: 'email', value: `erase${records}@example.com` }],
  });
  for (let done = 0; done < records; done += 1000) {
    const n = Math.min(1000, records - done);
    await services.vault.writeRecords(
      ctx,
      subject.id,
      Array.from({ length: n }, (_, i) => ({
        category: 'user.name',
        value: `value ${done + i}`,
        source: { type: 'subject' as const },
        purposes: ['service'],
      })),
    );
  }
  const t = performance.now();
  await services.vault.erase(ctx, subject.id);
  return performance.now() - t;
}
const erase10 = await eraseWith(10);
const erase10k = await eraseWith(10_000);

const port = (server: { address(): unknown }) => (server.address() as { port: number }).port;
process.stdout.write(
  `${JSON.stringify({
    barePort: port(bare.server),
    avowPort: port(app.server),
    token: key.token,
    subjectId: subjectAt(2),
    // Every 97th subject: a working set of 1,000 of the 100,000, half with consent.
    workingSet: Array.from({ length: 1000 }, (_, i) => subjectAt(1 + i * 97)),
    loadSeconds,
    inProcess: { perSecond: 3000 / inProcessSeconds, p50: pct(0.5), p99: pct(0.99) },
    batchMs,
    erase10,
    erase10k,
  })}\n`,
);

process.once('SIGTERM', () => {
  void Promise.all([bare.close(), app.close()])
    .then(() => database.close())
    .then(() => process.exit(0));
});
