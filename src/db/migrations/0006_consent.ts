import { type Kysely, sql } from 'kysely';

// The consent ledger. consent_events is append-only: nothing updates or deletes
// a row (a link of a visitor to a subject is a row of consent_visitors, not an
// edit of old events). consent_state is the current state derived from those
// events, kept in the same transaction, for fast reads; for subjects the ledger
// also keeps subject_purpose_state (the vault's table decisions read) current.
export async function up(db: Kysely<unknown>): Promise<void> {
  // Anonymous visitors of the banner or privacy center, linkable to a subject later.
  await db.schema
    .createTable('consent_visitors')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('subject_id', 'text')
    .addColumn('linked_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('consent_visitors_pk', ['tenant_id', 'id'])
    .execute();
  await db.schema
    .createIndex('consent_visitors_subject')
    .on('consent_visitors')
    .columns(['tenant_id', 'subject_id'])
    .where(sql.ref('subject_id'), 'is not', null)
    .execute();

  await db.schema
    .createTable('consent_events')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('id', 'text', (c) => c.notNull())
    // The holder: a subject id (sub_...) or a visitor id (vis_...).
    .addColumn('holder_id', 'text', (c) => c.notNull())
    .addColumn('purpose', 'text', (c) => c.notNull())
    // The contact medium an opt-out is limited to (email, sms...); 'all' otherwise.
    .addColumn('medium', 'text', (c) => c.notNull().defaultTo('all'))
    .addColumn('action', 'text', (c) =>
      c.notNull().check(sql`action in ('given', 'withdrawn', 'refused', 'expired', 'objected')`),
    )
    .addColumn('channel', 'text', (c) =>
      c
        .notNull()
        .check(
          sql`channel in ('banner', 'privacy_center', 'form', 'api', 'unsubscribe_link', 'gpc')`,
        ),
    )
    .addColumn('register_version', 'text')
    .addColumn('text_hash', 'text')
    .addColumn('ip_anonymised', 'text')
    .addColumn('user_agent', 'text')
    .addColumn('receipt_id', 'text', (c) => c.notNull())
    .addColumn('request_id', 'text')
    .addColumn('at', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('consent_events_pk', ['tenant_id', 'id'])
    .execute();
  await db.schema
    .createIndex('consent_events_holder')
    .on('consent_events')
    .columns(['tenant_id', 'holder_id', 'id'])
    .execute();

  await db.schema
    .createTable('consent_state')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('holder_id', 'text', (c) => c.notNull())
    .addColumn('purpose', 'text', (c) => c.notNull())
    .addColumn('medium', 'text', (c) => c.notNull())
    .addColumn('consent', 'text', (c) =>
      c.check(sql`consent in ('given', 'withdrawn', 'refused', 'expired')`),
    )
    .addColumn('consent_at', 'timestamptz')
    .addColumn('objected_at', 'timestamptz')
    .addColumn('channel', 'text', (c) => c.notNull())
    .addColumn('register_version', 'text')
    .addColumn('text_hash', 'text')
    .addColumn('last_event_id', 'text', (c) => c.notNull())
    .addColumn('renewal_required_at', 'timestamptz')
    .addColumn('renewal_register_version', 'text')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('consent_state_pk', ['tenant_id', 'holder_id', 'purpose', 'medium'])
    .execute();
  await db.schema
    .createIndex('consent_state_purpose')
    .on('consent_state')
    .columns(['tenant_id', 'purpose', 'consent'])
    .execute();

  // Signed receipts (one per change); the JSON and its Ed25519 signature as issued.
  await db.schema
    .createTable('consent_receipts')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('holder_id', 'text', (c) => c.notNull())
    .addColumn('receipt', 'text', (c) => c.notNull())
    .addColumn('signature', 'text', (c) => c.notNull())
    .addColumn('issued_at', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('consent_receipts_pk', ['tenant_id', 'id'])
    .execute();
  await db.schema
    .createIndex('consent_receipts_holder')
    .on('consent_receipts')
    .columns(['tenant_id', 'holder_id', 'id'])
    .execute();
}
