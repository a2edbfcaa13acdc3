import { type Kysely, sql } from 'kysely';

// Indexes for the retention sweep's first step (retention-store.ts
// candidateScan): a sweep reads the records that may be due rather than every
// record of the tenant.
export async function up(db: Kysely<unknown>): Promise<void> {
  // `collected` rules: category and its sub-keys (text_pattern_ops serves both
  // `=` and the byte-range prefix test, whatever the collation), then age.
  await sql`create index vault_records_category_collected on vault_records (tenant_id, category text_pattern_ops, collected_at)`.execute(
    db,
  );
  // Subject-wide triggers: only subjects whose timestamp is set are indexed.
  for (const column of [
    'last_activity_at',
    'relationship_ended_at',
    'contract_ended_at',
    'role_ended_at',
    'account_deleted_at',
  ]) {
    await sql`create index ${sql.id(`subjects_${column}`)} on subjects (tenant_id, ${sql.id(column)}) where ${sql.id(column)} is not null`.execute(
      db,
    );
  }
  // consent_withdrawn and objection triggers.
  await sql`create index subject_purpose_state_withdrawn on subject_purpose_state (tenant_id, consent_at) where consent = 'withdrawn'`.execute(
    db,
  );
  await sql`create index subject_purpose_state_objected on subject_purpose_state (tenant_id, objected_at) where objected_at is not null`.execute(
    db,
  );
}
