import { z } from 'zod';
import { type Db, ping } from '../db/database.js';
import { schemaStatus } from '../db/migrate.js';
import type { App } from '../http/app-types.js';

const readiness = z.object({
  status: z.enum(['ready', 'not_ready']),
  database: z.enum(['reachable', 'unreachable']),
  schema: z.enum(['current', 'pending', 'unknown']),
  pendingMigrations: z.array(z.string()),
});

export function registerHealthRoutes(app: App, deps: { db: Db }): void {
  app.get(
    '/health',
    {
      schema: {
        tags: ['health'],
        summary: 'The process is up',
        security: [],
        response: { 200: z.object({ status: z.literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/ready',
    {
      schema: {
        tags: ['health'],
        summary: 'The database is reachable and the schema is current',
        security: [],
        response: { 200: readiness, 503: readiness },
      },
    },
    async (_request, reply) => {
      try {
        await ping(deps.db);
      } catch {
        return reply.status(503).send({
          status: 'not_ready' as const,
          database: 'unreachable' as const,
          schema: 'unknown' as const,
          pendingMigrations: [],
        });
      }
      const schema = await schemaStatus(deps.db);
      const ready = schema.current;
      return reply.status(ready ? 200 : 503).send({
        status: ready ? ('ready' as const) : ('not_ready' as const),
        database: 'reachable' as const,
        schema: ready ? ('current' as const) : ('pending' as const),
        pendingMigrations: schema.pending,
      });
    },
  );
}
