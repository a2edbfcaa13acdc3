import { z } from 'zod';
import { defineJob, type JobDefinition } from '../jobs/jobs.js';
import { type RequestsService, WEBHOOK_JOB } from './requests-service.js';

/**
 * The requests' background work: deliver a forwarded request to the
 * controller's webhook (retried 8 times, over about two hours, until it answers
 * 2xx), expire requests never
 * verified, and remind operators of deadlines. All idempotent: each checks
 * the request's state before it acts.
 */
export function createRequestJobs(requests: RequestsService): JobDefinition[] {
  return [
    defineJob({
      name: WEBHOOK_JOB,
      payload: z.object({ tenantId: z.string(), requestId: z.string() }),
      retry: { limit: 8, delaySeconds: 30, backoff: true },
      handler: async ({ tenantId, requestId }) => requests.deliverWebhook(tenantId, requestId),
    }),
    defineJob({
      name: 'requests.expire-unverified',
      payload: z.object({}),
      policy: 'singleton',
      schedule: { cron: '7 * * * *', payload: {} },
      handler: async () => {
        await requests.expireUnverified();
      },
    }),
    defineJob({
      name: 'requests.remind-operators',
      payload: z.object({}),
      policy: 'singleton',
      schedule: { cron: '17 * * * *', payload: {} },
      handler: async () => {
        await requests.remindOperators();
      },
    }),
  ];
}
