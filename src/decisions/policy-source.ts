import type { Db } from '../db/database.js';
import { type Register, registerSchema } from '../register/register-schema.js';
import { findActiveVersion } from '../register/register-store.js';
import { compilePolicy, type Policy } from './decide.js';

/** The register capability's active version, as decisions and the vault read it. */
export type ActiveRegister = { version: string | number; register: Register };
export type RegisterReader = {
  getActiveRegister: (tenantId: string) => Promise<ActiveRegister | null>;
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
          active
            ? compilePolicy(active.register, String(active.version))
            : compilePolicy(null, null),
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

/**
 * Reads the active register through the register capability's store. Used
 * until (or unless) the register service offers `getActiveRegister` itself.
 */
export function registerReaderFromStore(db: Db): RegisterReader {
  return {
    async getActiveRegister(tenantId) {
      const version = await findActiveVersion(db, tenantId);
      if (!version) return null;
      return { version: version.number, register: registerSchema.parse(version.register) };
    },
  };
}
