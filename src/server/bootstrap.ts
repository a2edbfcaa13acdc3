import { readFileSync } from 'node:fs';
import { countApiKeys } from '../access/api-keys-store.js';
import type { Db } from '../db/database.js';
import type { Services } from './app.js';

const demoRegisterFile = new URL('../../examples/registers/demo.yaml', import.meta.url);

export type BootstrapResult =
  | { created: false }
  | { created: true; operatorToken: string; operatorKeyId: string; demoTenantId: string | null };

/**
 * First start of an installation: with no API key yet, create an operator key
 * (shown once, never stored in clear) and, when asked, a demo tenant to try
 * things on. Later starts do nothing here.
 */
export async function bootstrapInstallation(
  db: Db,
  services: Services,
  options: { seedDemo: boolean },
): Promise<BootstrapResult> {
  if ((await countApiKeys(db)) > 0) return { created: false };
  const demo = options.seedDemo
    ? await services.tenants.create({ name: 'Demo Company', role: 'controller', region: 'eu' })
    : null;
  // The demo tenant starts with the example register, so the policy page and
  // decisions have something to show. Published by the installation (no key).
  if (demo) await services.register.publish(demo.id, readFileSync(demoRegisterFile, 'utf8'));
  const operator = await services.apiKeys.create({
    name: 'first operator key',
    scopes: ['operator'],
    tenantId: null,
    createdBy: null,
  });
  return {
    created: true,
    operatorToken: operator.token,
    operatorKeyId: operator.key.id,
    demoTenantId: demo?.id ?? null,
  };
}
