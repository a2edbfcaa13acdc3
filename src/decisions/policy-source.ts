import type { Register } from '../register/register-schema.js';
import { compilePolicy, type Policy } from './decide.js';

/** The register capability's `getActiveRegister`, as decisions and the vault read it. */
export type RegisterReader = {
  getActiveRegister: (
    tenantId: string,
  ) => Promise<{ versionId: string; register: Register } | undefined>;
};

export type PolicySource = { current: (tenantId: string) => Promise<Policy> };

/**
 * The compiled active register per tenant. Decisions run thousands of times a
 * second, so the compiled form is kept for `ttlMs`: a newly activated register
 * applies within that time (immediately after `forget`).
 */
export function createPolicySource(deps: {
  registers: RegisterReader;
  ttlMs?: number;
  now?: () => number;
}) {
  const ttl = deps.ttlMs ?? 2000;
  const now = deps.now ?? Date.now;
  const cache = new Map<string, { policy: Promise<Policy>; until: number }>();
  return {
    current(tenantId: string): Promise<Policy> {
      const hit = cache.get(tenantId);
      if (hit && hit.until > now()) return hit.policy;
      const policy = deps.registers
        .getActiveRegister(tenantId)
        .then((active) =>
          active ? compilePolicy(active.register, active.versionId) : compilePolicy(null, null),
        );
      cache.set(tenantId, { policy, until: now() + ttl });
      policy.catch(() => cache.delete(tenantId));
      return policy;
    },
    forget(tenantId: string): void {
      cache.delete(tenantId);
    },
  };
}
