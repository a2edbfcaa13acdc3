import { z } from 'zod';
import { defineJob, forEachTenant, type JobDefinition } from '../jobs/jobs.js';
import type { ConsentService } from './consent-service.js';

/**
 * Consent's background work: every hour, consent older than its purpose's
 * `consent.validFor` expires in every tenant. Safe to run twice: consent that
 * has expired is not given any more, so a second run finds nothing.
 */
export function createConsentJobs(deps: {
  consent: Pick<ConsentService, 'expireLapsed'>;
  tenantIds: () => Promise<string[]>;
}): JobDefinition[] {
  return [
    defineJob({
      name: 'consent.expire',
      payload: z.object({}),
      policy: 'singleton',
      schedule: { cron: '27 * * * *', payload: {} },
      handler: async () => {
        await forEachTenant(await deps.tenantIds(), deps.consent.expireLapsed);
      },
    }),
  ];
}
