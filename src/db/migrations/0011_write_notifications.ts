import { type Kysely, sql } from 'kysely';

/**
 * Other processes' writes to the tables decisions read (subject facts, purpose
 * state, collection times, the active register) and to the key tables are announced on the
 * `avow_writes` channel with the table's name, once per statement (PostgreSQL
 * folds identical notifications of one transaction into one, sent at commit).
 * Each process keeps decision state in memory and drops it when it hears of a
 * write (src/db/write-watch.ts); its own writes it sees at its driver.
 */
const watched = [
  'subjects',
  'subject_purpose_state',
  'vault_records',
  'register_active',
  // Keys the audit log keeps in memory between appends: an erasure elsewhere drops them here.
  'subject_keys',
  'audit_actor_keys',
];

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create function avow_notify_write() returns trigger language plpgsql as $$
    begin
      perform pg_notify('avow_writes', tg_table_name);
      return null;
    end $$`.execute(db);
  for (const table of watched) {
    await sql`create trigger ${sql.id(`${table}_notify_write`)}
      after insert or update or delete or truncate on ${sql.id(table)}
      for each statement execute function avow_notify_write()`.execute(db);
  }
}
