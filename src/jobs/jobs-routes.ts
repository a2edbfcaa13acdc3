import { z } from 'zod';
import type { App } from '../http/app-types.js';
import { authErrors } from '../http/schemas.js';
import { type JobRunner, jobStates } from './jobs.js';

const jobsReply = z
  .object({
    working: z.boolean().describe('Whether the process that answered works jobs (AVOW_WORKER)'),
    queues: z.array(
      z.object({
        name: z.string(),
        policy: z.enum(['standard', 'short', 'singleton', 'stately']),
        retryLimit: z.number().int(),
        retryDelaySeconds: z.number().int(),
        retryBackoff: z.boolean(),
        counts: z
          .object(Object.fromEntries(jobStates.map((state) => [state, z.number().int()])))
          .describe('Jobs by state; completed jobs move to the archive after 12 hours'),
      }),
    ),
    schedules: z.array(z.object({ name: z.string(), cron: z.string(), timezone: z.string() })),
  })
  .meta({ id: 'Jobs' });

export function registerJobRoutes(app: App, deps: { jobs: JobRunner }): void {
  app.get(
    '/v1/jobs',
    {
      config: { access: 'operator' },
      schema: {
        tags: ['jobs'],
        summary: 'Background job queues with counts by state, and scheduled jobs',
        response: { 200: jobsReply, ...authErrors },
      },
    },
    async () => deps.jobs.status(),
  );
}
