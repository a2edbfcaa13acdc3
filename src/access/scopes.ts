import { z } from 'zod';

/**
 * What a key may do. `operator` is the installation's own key: tenants, and any
 * tenant's objects when it names the tenant. `admin` is everything inside one
 * tenant. The rest are the narrow scopes an integration should ask for.
 */
export const scopes = [
  'operator',
  'admin',
  'register:read',
  'register:write',
  'vault:read',
  'vault:write',
  'consent:write',
  'requests',
  'audit:read',
  'retention',
] as const;

export type Scope = (typeof scopes)[number];
export const scopeSchema = z.enum(scopes);

/** Scopes a tenant-bound key may hold; `operator` is the installation's alone. */
export const tenantScopes = scopes.filter((s) => s !== 'operator');

export function grants(held: readonly Scope[], needed: Scope): boolean {
  if (held.includes(needed) || held.includes('operator')) return true;
  // Whoever may publish the register may read what they published.
  if (needed === 'register:read' && held.includes('register:write')) return true;
  return needed !== 'operator' && held.includes('admin');
}
