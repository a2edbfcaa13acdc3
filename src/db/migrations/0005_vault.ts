import { type Kysely, sql } from 'kysely';

// The personal-data vault. Everything that identifies a person is stored sealed
// (AES-256-GCM under the subject's data key, see subject_keys); what stays in
// clear is what decisions and retention need and what does not identify:
// category keys, source types, purposes, timestamps and states.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('subjects')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) =>
      c
        .notNull()
        .defaultTo('active')
        .check(sql`status in ('active', 'merged', 'pseudonymized', 'erased')`),
    )
    .addColumn('merged_into', 'text')
    .addColumn('pseudonym', 'text')
    .addColumn('retained_categories', sql`text[]`)
    // Subject-wide restriction of processing (Art. 18); per-purpose state lives in subject_purpose_state.
    .addColumn('restricted_at', 'timestamptz')
    .addColumn('restriction_ground', 'text')
    // The timestamps retention triggers and basis conditions read.
    .addColumn('last_activity_at', 'timestamptz')
    .addColumn('relationship_started_at', 'timestamptz')
    .addColumn('relationship_ended_at', 'timestamptz')
    .addColumn('contract_ended_at', 'timestamptz')
    .addColumn('role_ended_at', 'timestamptz')
    .addColumn('account_deleted_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('erased_at', 'timestamptz')
    .addPrimaryKeyConstraint('subjects_pk', ['tenant_id', 'id'])
    .execute();

  // One row per identity. blind_index is HMAC-SHA-256 of the normalised identity
  // under a per-tenant key; the identity itself is only in `sealed`.
  await db.schema
    .createTable('subject_identities')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('blind_index', 'bytea', (c) => c.notNull())
    .addColumn('subject_id', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('sealed', 'bytea', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('subject_identities_pk', ['tenant_id', 'blind_index'])
    .execute();
  await db.schema
    .createIndex('subject_identities_subject')
    .on('subject_identities')
    .columns(['tenant_id', 'subject_id'])
    .execute();

  await db.schema
    .createTable('vault_records')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('subject_id', 'text', (c) => c.notNull())
    .addColumn('category', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) =>
      c
        .notNull()
        .check(
          sql`source in ('subject', 'contracting_party', 'automatic', 'public_source', 'third_party')`,
        ),
    )
    .addColumn('purposes', sql`text[]`, (c) => c.notNull())
    .addColumn('sealed', 'bytea', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('collected_at', 'timestamptz', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('vault_records_pk', ['tenant_id', 'id'])
    .execute();
  await db.schema
    .createIndex('vault_records_subject')
    .on('vault_records')
    .columns(['tenant_id', 'subject_id', 'category'])
    .execute();

  // Earlier values of rectified records, still sealed under the subject's key.
  await db.schema
    .createTable('vault_record_history')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('record_id', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('subject_id', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('sealed', 'bytea', (c) => c.notNull())
    .addColumn('sealed_reason', 'bytea', (c) => c.notNull())
    .addColumn('changed_by', 'text', (c) => c.notNull())
    .addColumn('changed_at', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('vault_record_history_pk', ['tenant_id', 'record_id', 'version'])
    .execute();
  await db.schema
    .createIndex('vault_record_history_subject')
    .on('vault_record_history')
    .columns(['tenant_id', 'subject_id'])
    .execute();

  await db.schema
    .createTable('subject_merges')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('from_subject_id', 'text', (c) => c.notNull())
    .addColumn('into_subject_id', 'text', (c) => c.notNull())
    .addColumn('identities_moved', 'integer', (c) => c.notNull())
    .addColumn('records_moved', 'integer', (c) => c.notNull())
    .addColumn('merged_by', 'text', (c) => c.notNull())
    .addColumn('merged_at', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('subject_merges_pk', ['tenant_id', 'id'])
    .execute();

  // The current consent / objection / restriction per subject and purpose. The
  // consent ledger and the rights requests own the events; they keep this row
  // current in the same transaction, and decisions read only this.
  await db.schema
    .createTable('subject_purpose_state')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('subject_id', 'text', (c) => c.notNull())
    .addColumn('purpose', 'text', (c) => c.notNull())
    .addColumn('consent', 'text', (c) =>
      c.check(sql`consent in ('given', 'withdrawn', 'refused', 'expired')`),
    )
    .addColumn('consent_at', 'timestamptz')
    .addColumn('consent_register_version', 'text')
    .addColumn('objected_at', 'timestamptz')
    .addColumn('objection_source', 'text')
    .addColumn('restricted_at', 'timestamptz')
    .addColumn('restriction_ground', 'text')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('subject_purpose_state_pk', ['tenant_id', 'subject_id', 'purpose'])
    .execute();
  await db.schema
    .createIndex('subject_purpose_state_purpose')
    .on('subject_purpose_state')
    .columns(['tenant_id', 'purpose', 'subject_id'])
    .execute();
}
