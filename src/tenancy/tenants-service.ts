import { type AuditContext, systemContext } from '../audit/audit-events.js';
import type { AuditService } from '../audit/audit-service.js';
import type { Db } from '../db/database.js';
import { AppError, notFound } from '../errors/errors.js';
import { newId } from '../ids/ids.js';
import {
  findTenant,
  insertTenant,
  listTenants,
  type Tenant,
  type TenantChanges,
  updateTenant,
} from './tenants-store.js';

export type NewTenant = {
  name: string;
  role: Tenant['role'];
  controller?: Tenant['controller'];
  region: string;
  contractStart?: string;
  contractEnd?: string | null;
};

function checkShape(
  tenant: Pick<Tenant, 'role' | 'controller' | 'contractStart' | 'contractEnd'>,
): void {
  const details = [];
  if (tenant.role === 'processor' && !tenant.controller) {
    details.push({
      path: 'controller',
      message: 'a processor tenant names its controller (name, and an email or url to reach it)',
    });
  }
  if (tenant.role === 'controller' && tenant.controller) {
    details.push({
      path: 'controller',
      message: 'only a processor tenant has a controller; omit it or set role to processor',
    });
  }
  if (tenant.contractEnd && tenant.contractEnd < tenant.contractStart) {
    details.push({
      path: 'contractEnd',
      message: `must be on or after contractStart (${tenant.contractStart})`,
    });
  }
  if (details.length > 0)
    throw new AppError('validation_failed', 'The tenant is not consistent', { details });
}

export function createTenantService(deps: {
  db: Db;
  audit: Pick<AuditService, 'record'>;
  now?: () => Date;
}) {
  const { db } = deps;
  const now = deps.now ?? (() => new Date());

  async function create(input: NewTenant, by: AuditContext = systemContext): Promise<Tenant> {
    const tenant = {
      id: newId('tenant'),
      name: input.name,
      role: input.role,
      controller: input.controller ?? null,
      region: input.region,
      contractStart: input.contractStart ?? now().toISOString().slice(0, 10),
      contractEnd: input.contractEnd ?? null,
    };
    checkShape(tenant);
    // The tenant and its first audit entry commit together.
    return db.transaction().execute(async (tx) => {
      const created = await insertTenant(tx, tenant);
      await deps.audit.record(tx, {
        ...by,
        tenantId: created.id,
        action: 'tenant.created',
        outcome: 'success',
        payload: { role: created.role, region: created.region },
      });
      return created;
    });
  }

  async function get(id: string): Promise<Tenant> {
    const tenant = await findTenant(db, id);
    if (!tenant) throw notFound('Tenant');
    return tenant;
  }

  async function update(
    id: string,
    changes: TenantChanges,
    by: AuditContext = systemContext,
  ): Promise<Tenant> {
    const current = await get(id);
    const next = { ...current, ...changes };
    // Switching to controller drops the controller contact rather than failing.
    if (changes.role === 'controller' && changes.controller === undefined) next.controller = null;
    checkShape(next);
    return db.transaction().execute(async (tx) => {
      const updated = await updateTenant(
        tx,
        id,
        { ...changes, controller: next.controller },
        now(),
      );
      if (!updated) throw notFound('Tenant');
      await deps.audit.record(tx, {
        ...by,
        tenantId: id,
        action: 'tenant.updated',
        outcome: 'success',
        payload: {
          fields: Object.entries(changes).flatMap(([k, v]) => (v === undefined ? [] : [k])),
        },
      });
      return updated;
    });
  }

  async function list(page: { after?: string; limit: number }): Promise<Tenant[]> {
    return listTenants(db, page);
  }

  return { create, get, update, list };
}

export type TenantService = ReturnType<typeof createTenantService>;
