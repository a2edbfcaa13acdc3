import { type Kysely, sql } from 'kysely';

// Retention: legal holds that stop sweeps, the reports of sweeps that ran, and
// the counts anonymised records leave behind (no person in them).
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('legal_holds')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('scope', 'text', (c) =>
      c.notNull().check(sql`scope in ('tenant', 'subject', 'category')`),
    )
    // A subject id or a category key; null for a hold on the whole tenant.
    .addColumn('target', 'text')
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('released_at', 'timestamptz')
    .addColumn('released_by', 'text')
    .addColumn('release_reason', 'text')
    .addPrimaryKeyConstraint('legal_holds_pk', ['tenant_id', 'id'])
    .addCheckConstraint('legal_holds_target', sql`(scope = 'tenant') = (target is null)`)
    .execute();
  await sql`create index legal_holds_active on legal_holds (tenant_id) where released_at is null`.execute(
    db,
  );

  await db.schema
    .createTable('retention_runs')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) =>
      c.notNull().check(sql`status in ('running', 'completed', 'failed')`),
    )
    .addColumn('started_by', 'text', (c) => c.notNull())
    .addColumn('as_of', 'timestamptz', (c) => c.notNull())
    .addColumn('register_version', 'text')
    .addColumn('started_at', 'timestamptz', (c) => c.notNull())
    .addColumn('finished_at', 'timestamptz')
    .addColumn('report', 'jsonb', (c) => c.notNull())
    .addPrimaryKeyConstraint('retention_runs_pk', ['tenant_id', 'id'])
    .execute();

  await db.schema
    .createTable('retention_aggregates')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('category', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    // The month the anonymised records were collected in: coarse enough not to single anyone out.
    .addColumn('period', 'date', (c) => c.notNull())
    .addColumn('records', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('retention_aggregates_pk', [
      'tenant_id',
      'category',
      'source',
      'period',
    ])
    .execute();
}
