import { type Kysely, sql } from 'kysely';

// Rights requests (GDPR Art. 15-22): the request, its timeline, its one-time
// downloads, and where a processor tenant's controller is reached.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('rights_requests')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('channel', 'text', (c) => c.notNull())
    .addColumn('verification_method', 'text')
    .addColumn('subject_id', 'text')
    // HMAC of the requester's e-mail (the vault's blind index): finds duplicates without the address.
    .addColumn('identity_index', 'bytea', (c) => c.notNull())
    // The requester's contact and anything personal they wrote, sealed.
    .addColumn('sealed', 'bytea', (c) => c.notNull())
    .addColumn('details', 'jsonb', (c) => c.notNull())
    .addColumn('register_version', 'text')
    .addColumn('deadline', 'text', (c) => c.notNull())
    .addColumn('received_at', 'timestamptz', (c) => c.notNull())
    .addColumn('verified_at', 'timestamptz')
    .addColumn('due_at', 'timestamptz', (c) => c.notNull())
    .addColumn('paused_at', 'timestamptz')
    .addColumn('paused_days', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('extension', 'text')
    .addColumn('extension_reason', 'text')
    .addColumn('extended_at', 'timestamptz')
    .addColumn('completed_at', 'timestamptz')
    .addColumn('status_reason', 'text')
    .addColumn('outcome', 'jsonb')
    .addColumn('receipt', 'jsonb')
    .addColumn('reminded_at', 'timestamptz')
    .addColumn('forwarded_at', 'timestamptz')
    .addColumn('controller_answer', 'jsonb')
    .addColumn('code_hash', 'bytea')
    .addColumn('code_expires_at', 'timestamptz')
    .addColumn('code_attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('rights_requests_pk', ['tenant_id', 'id'])
    .execute();
  await db.schema
    .createIndex('rights_requests_status_due')
    .on('rights_requests')
    .columns(['tenant_id', 'status', 'due_at'])
    .execute();
  await db.schema
    .createIndex('rights_requests_identity')
    .on('rights_requests')
    .columns(['tenant_id', 'identity_index', 'type'])
    .execute();

  await db.schema
    .createTable('rights_request_events')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('request_id', 'text', (c) => c.notNull())
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('at', 'timestamptz', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('from_status', 'text')
    .addColumn('to_status', 'text')
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('message', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('rights_request_events_pk', ['tenant_id', 'request_id', 'seq'])
    .execute();

  await db.schema
    .createTable('rights_request_downloads')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('token_hash', 'bytea', (c) => c.notNull())
    .addColumn('request_id', 'text', (c) => c.notNull())
    .addColumn('sealed', 'bytea')
    .addColumn('bytes', 'integer', (c) => c.notNull())
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('downloaded_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('rights_request_downloads_pk', ['tenant_id', 'token_hash'])
    .execute();

  await db.schema
    .createTable('controller_routes')
    .addColumn('tenant_id', 'text', (c) => c.primaryKey().references('tenants.id'))
    .addColumn('webhook_url', 'text')
    .addColumn('sealed_secret', 'bytea')
    .addColumn('email', 'text')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}
