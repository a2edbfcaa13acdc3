import { type Kysely, sql } from 'kysely';

/**
 * An erasure (and the lift of a restriction) looks up the subjects merged into
 * one, hop by hop; without this index each hop read all of the tenant's
 * subjects. Merges are rare, so the index stays small.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create index subjects_merged_into on subjects (tenant_id, merged_into)
    where merged_into is not null`.execute(db);
}
