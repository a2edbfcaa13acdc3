import Fastify from 'fastify';
import { pino } from 'pino';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { newId } from '../src/ids/ids.js';
const v = process.env.V ?? '';
const logger = pino({ level: 'info' }, pino.destination({ dest: '/dev/null', sync: false }));
const app = Fastify({
  ...(v.includes('log') ? { loggerInstance: logger } : {}),
  ...(v.includes('rid') ? { genReqId: () => newId('httpRequest') } : {}),
  ...(v.includes('nolc') ? {} : {}),
});
if (v.includes('zod')) { app.setValidatorCompiler(validatorCompiler); app.setSerializerCompiler(serializerCompiler); }
if (v.includes('hooks')) {
  app.addHook('onRequest', (req, reply, done) => { reply.header('x-request-id', req.id); done(); });
  app.addHook('onRequest', async (req) => { (req as unknown as { p: unknown }).p = { keyId: 'k', tenantId: null, scopes: ['admin'] }; });
}
if (v.includes('log')) app.addHook('onResponse', async (request, reply) => { request.log.info({ method: request.method, route: request.routeOptions.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request'); });
const schema = v.includes('zod') ? { response: { 200: z.object({ keyId: z.string(), tenantId: z.string().nullable(), scopes: z.array(z.string()) }) } } : {};
app.get('/x', { schema }, async () => ({ keyId: 'key_x', tenantId: null, scopes: ['admin'] }));
await app.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write(`${JSON.stringify({ port: (app.server.address() as { port: number }).port })}\n`);
process.once('SIGTERM', () => process.exit(0));
