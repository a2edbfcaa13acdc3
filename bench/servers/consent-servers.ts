/**
 * The servers the consent benchmark compares, in one child process: a bare
 * Fastify route, and Avow with a register, a subject and a consent:write key
 * on an in-memory PGlite. Prints one JSON line when ready.
 */
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';
import { generateInstallationKeys } from '../../src/crypto/installation-keys.js';
import { openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { createAvow } from '../../src/server/app.js';
import { createLogger, logDestination } from '../../src/server/logger.js';

const bare = Fastify();
bare.get('/bare', async () => ({ keyId: 'key_x', tenantId: null, scopes: ['admin'] }));
await bare.listen({ port: 0, host: '127.0.0.1' });

const database = await openDatabase({ kind: 'pglite' });
const outcome = await migrateToLatest(database.db);
if (!outcome.ok) throw outcome.error;
const generated = generateInstallationKeys();
const { app, services } = await createAvow({
  database,
  keys: generated,
  logger: createLogger('info', logDestination('/dev/null')),
  publicUrl: 'http://127.0.0.1',
});
await app.listen({ port: 0, host: '127.0.0.1' });
const tenant = await services.tenants.create({ name: 'Bench', role: 'controller', region: 'eu' });
const key = await services.apiKeys.create({
  name: 'bench',
  scopes: ['admin'],
  tenantId: tenant.id,
  createdBy: null,
});
const avowPort = (app.server.address() as { port: number }).port;
const call = async (method: string, path: string, body: unknown) => {
  const reply = await fetch(`http://127.0.0.1:${avowPort}${path}`, {
    method,
    headers: { authorization: `Bearer ${key.token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!reply.ok) throw new Error(`${method} ${path}: ${reply.status} ${await reply.text()}`);
  return (await reply.json()) as unknown;
};
await call('PUT', '/v1/register', { yaml: readFileSync('examples/registers/demo.yaml', 'utf8') });
const subject = (await call('POST', '/v1/subjects', { kind: 'customer' })) as {
  subject: { id: string };
};
await call('POST', '/v1/consent/events', {
  subjectId: subject.subject.id,
  purposes: [{ purpose: 'newsletter', action: 'given' }],
});

process.stdout.write(
  `${JSON.stringify({ barePort: (bare.server.address() as { port: number }).port, avowPort, token: key.token, subjectId: subject.subject.id })}\n`,
);

process.once('SIGTERM', () => {
  void Promise.all([bare.close(), app.close()])
    .then(() => database.close())
    .then(() => process.exit(0));
});
