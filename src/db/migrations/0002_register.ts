import { type Kysely, sql } from 'kysely';

// Register versions are immutable: rows are only ever inserted. Which one is in
// force is a separate row per tenant, so activating a version is one update.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('register_versions')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('number', 'integer', (c) => c.notNull())
    .addColumn('content_hash', 'text', (c) => c.notNull())
    .addColumn('yaml', 'text', (c) => c.notNull())
    .addColumn('register', 'jsonb', (c) => c.notNull())
    .addColumn('created_by', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('register_versions_pkey', ['tenant_id', 'id'])
    .addUniqueConstraint('register_versions_number', ['tenant_id', 'number'])
    .execute();

  await db.schema
    .createTable('register_active')
    .addColumn('tenant_id', 'text', (c) => c.primaryKey().references('tenants.id'))
    .addColumn('version_id', 'text', (c) => c.notNull())
    .addColumn('activated_by', 'text')
    .addColumn('activated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addForeignKeyConstraint(
      'register_active_version',
      ['tenant_id', 'version_id'],
      'register_versions',
      ['tenant_id', 'id'],
    )
    .execute();
}
