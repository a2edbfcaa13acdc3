import { type Kysely, sql } from 'kysely';

/**
 * A purpose can be fulfilled for one subject (the order delivered, the
 * inquiry answered): from then on that purpose may no longer use the
 * subject's data, and `purpose_fulfilled` retention rules start their clock.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table subject_purpose_state add column fulfilled_at timestamptz`.execute(db);
  // Retention sweeps look for purposes fulfilled before a cutoff.
  await sql`create index subject_purpose_state_fulfilled on subject_purpose_state (tenant_id, fulfilled_at)
    where fulfilled_at is not null`.execute(db);
}
