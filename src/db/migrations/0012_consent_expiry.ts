import { type Kysely, sql } from 'kysely';

/**
 * Consent expires by time (a purpose's `consent.validFor` in the register):
 * the ledger records those `expired` events on the `expiry` channel, the one
 * channel no person chooses.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table consent_events drop constraint consent_events_channel_check`.execute(db);
  await sql`alter table consent_events add constraint consent_events_channel_check
    check (channel in ('banner', 'privacy_center', 'form', 'api', 'unsubscribe_link', 'gpc', 'expiry'))`.execute(
    db,
  );
  // The expiry job looks for consent given before a cutoff, purpose by purpose.
  await sql`create index consent_state_given_at on consent_state (tenant_id, purpose, consent_at)
    where consent = 'given'`.execute(db);
}
