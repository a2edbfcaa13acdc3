/**
 * The servers the HTTP benchmark compares, in one child process so they share
 * one runtime: a bare Fastify route; Avow's authenticated, validated, logged
 * /v1/whoami on an in-memory PGlite; and a reference that does the same work
 * written by hand in two hooks. Prints one JSON line when ready.
 */
import Fastify from 'fastify';
import { safeEqual } from '../../src/crypto/hashing.js';
import { generateInstallationKeys } from '../../src/crypto/installation-keys.js';
import { openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { apiHeaders } from '../../src/http/http-server.js';
import { createAvow } from '../../src/server/app.js';
import { createLogger, logDestination } from '../../src/server/logger.js';
import { answerCpuQueries } from './cpu-queries.js';

const database = await openDatabase({ kind: 'pglite' });
const outcome = await migrateToLatest(database.db);
if (!outcome.ok) throw outcome.error;
const generated = generateInstallationKeys();
// Logs are written as in production (the same buffered JSON lines), to /dev/null instead of standard output.
const logger = createLogger('info', logDestination('/dev/null'));
// Served over plain HTTP, as measured here: no HSTS header (see apiHeaders).
const publicUrl = 'http://127.0.0.1';
const { app, services } = await createAvow({ database, keys: generated, logger, publicUrl });
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

// The reference: what whoami must do on every request (the same security
// headers and a request id, the key checked against one kept in memory, the
// same access line through the same logger and destination, the reply
// serialized from its schema) with nothing else: no Avow code around it. It
// shows how close to the bare route those duties alone can get.
const accessLog = logger.child({}, { redact: { paths: [] } });
const [, keyPart = '', secretPart = ''] =
  /^avow_([0-9a-z]{26})_([A-Za-z0-9_-]{43})$/.exec(key.token) ?? [];
const known = new Map([[keyPart, Buffer.from(secretPart)]]);

const securityHeaders = apiHeaders(publicUrl);

async function referenceServer(options: { securityHeaders: boolean }) {
  let requests = 0;
  const reference = Fastify();
  reference.decorateRequest('startedAt', 0);
  reference.addHook('onRequest', (request, reply, done) => {
    request.startedAt = performance.now();
    if (options.securityHeaders) reply.headers(securityHeaders);
    reply.header('x-request-id', `rid_${(++requests).toString(36)}`);
    const [, id = '', secret = ''] =
      /^Bearer avow_([0-9a-z]{26})_([A-Za-z0-9_-]{43})$/.exec(
        request.headers.authorization ?? '',
      ) ?? [];
    const expected = known.get(id);
    if (!expected || !safeEqual(expected, Buffer.from(secret))) {
      reply.code(401).send();
      return;
    }
    done();
  });
  reference.addHook('onSend', (request, reply, payload, done) => {
    accessLog.info(
      {
        reqId: request.id,
        method: request.method,
        route: '/v1/whoami',
        status: reply.statusCode,
        ms: Math.round(performance.now() - request.startedAt),
      },
      'request',
    );
    done(null, payload);
  });
  reference.get(
    '/v1/whoami',
    {
      schema: {
        response: {
          200: {
            type: 'object',
            properties: {
              keyId: { type: 'string' },
              tenantId: { type: ['string', 'null'] },
              scopes: { type: 'array', items: { type: 'string' } },
            },
          },
        },
      },
    },
    async () => principal,
  );
  await reference.listen({ port: 0, host: '127.0.0.1' });
  return reference;
}
const reference = await referenceServer({ securityHeaders: true });
// The same without the security headers (apiHeaders): what they alone cost here.
const referenceWithoutHeaders = await referenceServer({ securityHeaders: false });

const port = (server: { address(): unknown }) => (server.address() as { port: number }).port;
process.stdout.write(
  `${JSON.stringify({ barePort: port(bare.server), avowPort: port(app.server), referencePort: port(reference.server), referenceWithoutHeadersPort: port(referenceWithoutHeaders.server), token: key.token, tenantId: tenant.id })}\n`,
);

answerCpuQueries();

process.once('SIGTERM', () => {
  void Promise.all([bare.close(), app.close(), reference.close(), referenceWithoutHeaders.close()])
    .then(() => database.close())
    .then(() => process.exit(0));
});
