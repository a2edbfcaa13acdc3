import { z } from 'zod';
import type { AuditContext } from '../audit/audit-events.js';
import type { PolicySource } from '../decisions/policy-source.js';
import { defineJob, forEachTenant, type JobDefinition, type JobRunner } from '../jobs/jobs.js';
import type { RetentionService } from './retention-service.js';

/**
 * Scheduled retention work. Once a day `retention.daily` fans out one
 * `retention.sweep` and one `audit.prune` per tenant (each deduplicated by
 * tenant, so a second fan-out while one waits adds nothing); every hour
 * `audit.checkpoint` signs each tenant's chain head. All of them are safe to
 * run twice: a sweep finds nothing left, a prune nothing older, a checkpoint
 * at an unchanged head is the one already there.
 */
export const retentionJobActor: AuditContext = { actor: { type: 'system', id: 'retention' } };

const tenantPayload = z.object({ tenantId: z.string().min(1).max(100) });

export function createRetentionJobs(deps: {
  jobs: JobRunner;
  retention: RetentionService;
  policies: PolicySource;
  audit: {
    prune: (tenantId: string, olderThan: string) => Promise<unknown>;
    checkpoint: (tenantId: string) => Promise<unknown>;
  };
}): JobDefinition[] {
  const sweep = defineJob({
    name: 'retention.sweep',
    payload: tenantPayload,
    policy: 'stately',
    expireInSeconds: 60 * 60 * 6,
    handler: async ({ tenantId }) => {
      await deps.retention.run(retentionJobActor, tenantId);
    },
  });

  const prune = defineJob({
    name: 'audit.prune',
    payload: tenantPayload,
    policy: 'stately',
    // A log that does not verify will not verify half a minute later either;
    // the refusal is in the log, and tomorrow's run tries again.
    retry: { limit: 0, delaySeconds: 0, backoff: false },
    handler: async ({ tenantId }) => {
      const register = (await deps.policies.current(tenantId)).register;
      const keep = register?.retention.auditLog?.duration;
      // No audit retention in the register: the log is kept.
      if (keep) await deps.audit.prune(tenantId, keep);
    },
  });

  const daily = defineJob({
    name: 'retention.daily',
    payload: z.object({}),
    policy: 'singleton',
    schedule: { cron: '17 2 * * *', payload: {} },
    handler: async () => {
      for (const tenantId of await deps.retention.tenantIds()) {
        await deps.jobs.send(sweep, { tenantId }, { singletonKey: tenantId });
        await deps.jobs.send(prune, { tenantId }, { singletonKey: tenantId });
      }
    },
  });

  const checkpoint = defineJob({
    name: 'audit.checkpoint',
    payload: z.object({}),
    policy: 'singleton',
    schedule: { cron: '7 * * * *', payload: {} },
    handler: async () => {
      await forEachTenant(await deps.retention.tenantIds(), deps.audit.checkpoint);
    },
  });

  return [sweep, prune, daily, checkpoint];
}
