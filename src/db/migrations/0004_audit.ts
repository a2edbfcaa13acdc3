import { type Kysely, sql } from 'kysely';

// The audit log: one hash chain per tenant (and one for the installation,
// tenant_id 'installation'). No foreign key to tenants: the log outlives a
// tenant whose contract ended, for as long as the register keeps it.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('audit_events')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('seq', 'bigint', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('at', 'timestamptz', (c) => c.notNull())
    .addColumn('actor_type', 'text', (c) => c.notNull())
    .addColumn('actor_id', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('subject_id', 'text')
    .addColumn('categories', sql`text[]`)
    .addColumn('purpose', 'text')
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('request_id', 'text')
    .addColumn('payload', 'jsonb', (c) => c.notNull())
    .addColumn('sealed', 'bytea')
    .addColumn('sealed_key', 'text')
    .addColumn('prev_hash', 'bytea', (c) => c.notNull())
    .addColumn('hash', 'bytea', (c) => c.notNull())
    .addPrimaryKeyConstraint('audit_events_pk', ['tenant_id', 'seq'])
    .addUniqueConstraint('audit_events_id', ['tenant_id', 'id'])
    .execute();
  await db.schema
    .createIndex('audit_events_subject')
    .on('audit_events')
    .columns(['tenant_id', 'subject_id', 'seq'])
    .where(sql.ref('subject_id'), 'is not', null)
    .execute();
  await db.schema
    .createIndex('audit_events_actor')
    .on('audit_events')
    .columns(['tenant_id', 'actor_id', 'seq'])
    .execute();
  await db.schema
    .createIndex('audit_events_action')
    .on('audit_events')
    .columns(['tenant_id', 'action', 'seq'])
    .execute();
  await db.schema
    .createIndex('audit_events_at')
    .on('audit_events')
    .columns(['tenant_id', 'at'])
    .execute();

  // The head of each chain, locked FOR UPDATE by every append so concurrent
  // writers on one tenant queue instead of forking the chain; signed, so a cut
  // tail cannot be hidden by rewinding it.
  await db.schema
    .createTable('audit_heads')
    .addColumn('tenant_id', 'text', (c) => c.primaryKey())
    .addColumn('seq', 'bigint', (c) => c.notNull())
    .addColumn('hash', 'bytea', (c) => c.notNull())
    .addColumn('signature', 'bytea', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('audit_checkpoints')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('seq', 'bigint', (c) => c.notNull())
    .addColumn('kind', 'text', (c) =>
      c.notNull().check(sql`kind in ('interval', 'on_demand', 'prune')`),
    )
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('hash', 'bytea', (c) => c.notNull())
    .addColumn('at', 'timestamptz', (c) => c.notNull())
    .addColumn('signature', 'bytea', (c) => c.notNull())
    .addPrimaryKeyConstraint('audit_checkpoints_pk', ['tenant_id', 'seq', 'kind'])
    .execute();

  // Keys for personal data in the installation's own chain (failed logins with
  // no tenant, operator actions): subject_keys belongs to real tenants.
  await db.schema
    .createTable('audit_actor_keys')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('key_id', 'text', (c) => c.notNull())
    .addColumn('wrapped_key', 'bytea')
    .addColumn('master_key_version', 'integer')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('destroyed_at', 'timestamptz')
    .addPrimaryKeyConstraint('audit_actor_keys_pk', ['tenant_id', 'key_id'])
    .execute();

  // Append-only, enforced in the database as a guard against any code path
  // (the grants in docs/audit.md are what stops a hostile role): no UPDATE,
  // and DELETE only inside audit_prune(), which sets a transaction-local flag.
  await sql`
    create function audit_refuse_change() returns trigger language plpgsql as $$
    begin
      if tg_op = 'DELETE' and current_setting('avow.audit_prune', true) = 'on' then
        return old;
      end if;
      raise exception 'audit rows are append-only (% on %)', tg_op, tg_table_name
        using errcode = 'insufficient_privilege';
    end $$`.execute(db);
  for (const table of ['audit_events', 'audit_checkpoints']) {
    await sql`create trigger ${sql.raw(`${table}_append_only`)} before update or delete on ${sql.table(table)}
      for each row execute function audit_refuse_change()`.execute(db);
  }
  await sql`
    create function audit_prune(p_tenant text, p_through bigint) returns bigint language plpgsql as $$
    declare removed bigint;
    begin
      perform set_config('avow.audit_prune', 'on', true);
      delete from audit_events where tenant_id = p_tenant and seq <= p_through;
      get diagnostics removed = row_count;
      delete from audit_checkpoints where tenant_id = p_tenant and seq < p_through;
      perform set_config('avow.audit_prune', 'off', true);
      return removed;
    end $$`.execute(db);
}
