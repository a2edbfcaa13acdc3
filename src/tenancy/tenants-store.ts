import type { Selectable } from 'kysely';
import type { Db } from '../db/database.js';
import type { TenantRow } from '../db/schema.js';

export type ControllerContact = { name: string; email?: string; url?: string };

export type Tenant = {
  id: string;
  name: string;
  role: 'controller' | 'processor';
  /** The controller a processor tenant works for; null when the tenant is the controller. */
  controller: ControllerContact | null;
  region: string;
  contractStart: string;
  contractEnd: string | null;
  createdAt: Date;
  updatedAt: Date;
};

export type TenantChanges = Partial<
  Pick<Tenant, 'name' | 'role' | 'controller' | 'region' | 'contractStart' | 'contractEnd'>
>;

function toTenant(row: Selectable<TenantRow>): Tenant {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    controller: row.controller,
    region: row.region,
    contractStart: row.contractStart,
    contractEnd: row.contractEnd,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

export async function insertTenant(
  db: Db,
  tenant: Omit<Tenant, 'createdAt' | 'updatedAt'>,
): Promise<Tenant> {
  const row = await db
    .insertInto('tenants')
    .values({ ...tenant, controller: JSON.stringify(tenant.controller), updatedAt: new Date() })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toTenant(row);
}

export async function findTenant(db: Db, id: string): Promise<Tenant | undefined> {
  const row = await db.selectFrom('tenants').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toTenant(row);
}

export async function listTenants(
  db: Db,
  page: { after?: string; limit: number },
): Promise<Tenant[]> {
  let query = db.selectFrom('tenants').selectAll().orderBy('id').limit(page.limit);
  if (page.after) query = query.where('id', '>', page.after);
  return (await query.execute()).map(toTenant);
}

export async function updateTenant(
  db: Db,
  id: string,
  changes: TenantChanges,
  at: Date,
): Promise<Tenant | undefined> {
  const { controller, ...rest } = changes;
  const row = await db
    .updateTable('tenants')
    .set({
      ...rest,
      ...(controller !== undefined ? { controller: JSON.stringify(controller) } : {}),
      updatedAt: at,
    })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
  return row && toTenant(row);
}
