import { type Kysely, sql } from 'kysely';

// One data key per subject, wrapped by the master key. Erasure destroys the
// wrapped key (the row keeps only the fact and the time), so every copy of the
// subject's ciphertext, backups included, becomes unreadable.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('subject_keys')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('subject_id', 'text', (c) => c.notNull())
    .addColumn('wrapped_key', 'bytea')
    .addColumn('master_key_version', 'integer')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('destroyed_at', 'timestamptz')
    .addPrimaryKeyConstraint('subject_keys_pk', ['tenant_id', 'subject_id'])
    .addCheckConstraint(
      'subject_keys_live_or_destroyed',
      sql`(wrapped_key is null) = (destroyed_at is not null)`,
    )
    .execute();
}
