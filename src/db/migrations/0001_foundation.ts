import { type Kysely, sql } from 'kysely';

// Migrations are forward-only; they never drop or rewrite what an earlier one made
// without a new migration that says so.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('installation')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('value', 'jsonb', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('tenants')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull().check(sql`role in ('controller', 'processor')`))
    .addColumn('controller', 'jsonb')
    .addColumn('region', 'text', (c) => c.notNull())
    .addColumn('contract_start', 'date', (c) => c.notNull())
    .addColumn('contract_end', 'date')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint(
      'tenants_processor_names_controller',
      sql`role = 'controller' or controller is not null`,
    )
    .execute();

  // API keys belong to the installation (operators) or to one tenant. The table is
  // small and read on every request, a reference table when distributed by tenant.
  await db.schema
    .createTable('api_keys')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.references('tenants.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('prefix', 'text', (c) => c.notNull().unique())
    .addColumn('secret_hash', 'bytea', (c) => c.notNull())
    .addColumn('scopes', sql`text[]`, (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('created_by', 'text')
    .addColumn('revoked_at', 'timestamptz')
    .execute();
  await db.schema
    .createIndex('api_keys_tenant')
    .on('api_keys')
    .columns(['tenant_id', 'id'])
    .execute();
}
