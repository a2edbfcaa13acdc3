/**
 * The two servers the HTTP benchmark compares, in one child process so they
 * share one runtime: a bare Fastify route, and Avow's authenticated, validated,
 * logged /v1/whoami on an in-memory PGlite. Prints one JSON line when ready.
 */
import Fastify from 'fastify';
import { generateInstallationKeys } from '../../src/crypto/installation-keys.js';
import { openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { createAvow } from '../../src/server/app.js';
import { createLogger, logDestination } from '../../src/server/logger.js';

const database = await openDatabase({ kind: 'pglite' });
const outcome = await migrateToLatest(database.db);
if (!outcome.ok) throw outcome.error;
const generated = generateInstallationKeys();
// Logs are written as in production (the same buffered JSON lines), to /dev/null instead of standard output.
const logger = createLogger('info', logDestination('/dev/null'));
const { app, services } = await createAvow({
  database,
  keys: generated,
  logger,
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

// The bare route answers the same body as /v1/whoami, with none of the work.
const principal = { keyId: key.key.id, tenantId: tenant.id, scopes: ['admin'] };
const bare = Fastify();
bare.get('/bare', async () => principal);
await bare.listen({ port: 0, host: '127.0.0.1' });

const port = (server: { address(): unknown }) => (server.address() as { port: number }).port;
process.stdout.write(
  `${JSON.stringify({ barePort: port(bare.server), avowPort: port(app.server), token: key.token, tenantId: tenant.id })}\n`,
);

process.once('SIGTERM', () => {
  void Promise.all([bare.close(), app.close()])
    .then(() => database.close())
    .then(() => process.exit(0));
});
