import type { Kysely } from 'kysely';

/**
 * A consent event's anonymised address and user agent are sealed under its
 * holder's data key (subject_keys: a subject's, or a visitor's under the
 * visitor id), so that destroying the key at erasure reaches every backup of
 * the ledger too (docs/consent.md). `sealed_for` names the key: the holder's,
 * or after a merge the subject the events were sealed for again. Events
 * written before keep their clear columns until an erasure or a
 * pseudonymisation clears them.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('consent_events')
    .addColumn('sealed', 'bytea')
    .addColumn('sealed_for', 'text')
    .execute();
}
