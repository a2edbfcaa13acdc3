import { type Kysely, sql } from 'kysely';

// Audit lanes: each tenant's log becomes several hash chains ("lanes") so that
// concurrent transactions of one tenant append without waiting for each other's
// commit. Lane 0 is the chain that existed before: its rows, hashes, head and
// checkpoints stay as they are and still verify. See docs/audit.md.
export async function up(db: Kysely<unknown>): Promise<void> {
  // The tenant's order of events across lanes: a bigint from one sequence,
  // taken inside the append while the lane is held, so it rises along every
  // lane. Existing rows (all lane 0) keep their seq as their position; new
  // positions start above every existing one. ALTER TYPE ... USING fills the
  // column by rewriting the table, without firing the append-only trigger.
  await sql`alter table audit_events add column lane smallint not null default 0 check (lane >= 0), add column position bigint`.execute(
    db,
  );
  await sql`alter table audit_events alter column position type bigint using seq`.execute(db);
  await sql`create sequence audit_position owned by audit_events.position`.execute(db);
  await sql`select setval('audit_position', coalesce((select max(seq) from audit_events), 0) + 1, false)`.execute(
    db,
  );
  await sql`alter table audit_events alter column position set default nextval('audit_position'), alter column position set not null`.execute(
    db,
  );
  await sql`alter table audit_events drop constraint audit_events_pk, add constraint audit_events_pk primary key (tenant_id, lane, seq)`.execute(
    db,
  );
  await sql`create unique index audit_events_position on audit_events (tenant_id, position)`.execute(
    db,
  );
  // The search indexes end in the order they are listed by.
  await sql`drop index audit_events_subject, audit_events_actor, audit_events_action`.execute(db);
  await sql`create index audit_events_subject on audit_events (tenant_id, subject_id, position) where subject_id is not null`.execute(
    db,
  );
  await sql`create index audit_events_actor on audit_events (tenant_id, actor_id, position)`.execute(
    db,
  );
  await sql`create index audit_events_action on audit_events (tenant_id, action, position)`.execute(
    db,
  );

  // One head per lane. `lanes` is the tenant's lane count as signed with the
  // head (null: a head signed before lanes existed, lane 0 only).
  await sql`alter table audit_heads add column lane smallint not null default 0 check (lane >= 0), add column lanes smallint`.execute(
    db,
  );
  await sql`alter table audit_heads drop constraint audit_heads_pkey, add constraint audit_heads_pkey primary key (tenant_id, lane)`.execute(
    db,
  );

  // A checkpoint now signs the heads of all lanes at once (`heads`); the
  // checkpoints made before keep their single seq and hash.
  await sql`alter table audit_checkpoints drop constraint audit_checkpoints_pk, add constraint audit_checkpoints_pk primary key (tenant_id, id)`.execute(
    db,
  );
  await sql`alter table audit_checkpoints alter column seq drop not null, alter column hash drop not null, add column heads jsonb`.execute(
    db,
  );
  await sql`alter table audit_checkpoints add constraint audit_checkpoints_shape check ((heads is null) = (seq is not null and hash is not null))`.execute(
    db,
  );

  // The append, one call. A lane is held by a transaction-level advisory lock
  // on (hashtext(tenant), lane), taken without waiting: the
  // entry's lane first, else any lane no other transaction holds (one this
  // transaction holds is never refused). Only if it got the entry's lane, the
  // head is at the entry's predecessor and the reused sealing key is still
  // stored as it was does it move the head and insert the entry, whose
  // position comes from the sequence while the lane is held. It returns the
  // head of the lane it holds (to the end of the transaction; none when every
  // lane is held by others), whether the key held, and the position when it
  // wrote. A function so its statements are planned once per connection.
  await sql`
    create function audit_append(
      p_tenant text, p_lane smallint, p_seq bigint, p_prev_hash bytea, p_hash bytea,
      p_lanes smallint, p_signature bytea,
      p_key_table text, p_key_id text, p_key_wrapped bytea,
      p_id text, p_at timestamptz, p_actor_type text, p_actor_id text, p_action text,
      p_subject_id text, p_categories text[], p_purpose text, p_outcome text, p_request_id text,
      p_payload jsonb, p_sealed bytea, p_sealed_key text,
      out lane smallint, out seq bigint, out hash bytea, out key_ok boolean, out "position" bigint)
    language plpgsql as $$
    declare
      held smallint;
      other smallint;
    begin
      if pg_try_advisory_xact_lock(hashtext(p_tenant), p_lane) then
        held := p_lane;
      else
        for other in select h.lane from audit_heads h
                      where h.tenant_id = p_tenant and h.lane <> p_lane order by h.lane loop
          if pg_try_advisory_xact_lock(hashtext(p_tenant), other) then
            held := other;
            exit;
          end if;
        end loop;
      end if;
      if held is null then
        return;
      end if;
      if p_key_table = 'subject_keys' then
        key_ok := exists (select 1 from subject_keys k
                           where k.tenant_id = p_tenant and k.subject_id = p_key_id
                             and k.wrapped_key = p_key_wrapped);
      elsif p_key_table = 'audit_actor_keys' then
        key_ok := exists (select 1 from audit_actor_keys k
                           where k.tenant_id = p_tenant and k.key_id = p_key_id
                             and k.wrapped_key = p_key_wrapped);
      else
        key_ok := true;
      end if;
      if held = p_lane and key_ok then
        update audit_heads h
           set seq = p_seq, hash = p_hash, lanes = p_lanes, signature = p_signature,
               updated_at = now()
         where h.tenant_id = p_tenant and h.lane = p_lane
           and h.seq = p_seq - 1 and h.hash = p_prev_hash;
        if found then
          insert into audit_events (tenant_id, lane, seq, id, at, actor_type, actor_id, action,
                                    subject_id, categories, purpose, outcome, request_id,
                                    payload, sealed, sealed_key, prev_hash, hash)
          values (p_tenant, p_lane, p_seq, p_id, p_at, p_actor_type, p_actor_id, p_action,
                  p_subject_id, p_categories, p_purpose, p_outcome, p_request_id, p_payload,
                  p_sealed, p_sealed_key, p_prev_hash, p_hash)
          returning audit_events.position into "position";
          lane := p_lane;
          seq := p_seq;
          hash := p_hash;
          return;
        end if;
      end if;
      select h.lane, h.seq, h.hash into lane, seq, hash
        from audit_heads h where h.tenant_id = p_tenant and h.lane = held;
    end $$`.execute(db);

  // Pruning cuts each lane at its own place: p_through[lane + 1] is the last
  // seq removed from that lane (0: none). Checkpoints that name only removed
  // entries go with them, except p_anchor, the signed prune checkpoint that
  // anchors every lane's new start.
  await sql`drop function audit_prune(text, bigint)`.execute(db);
  await sql`
    create function audit_prune(p_tenant text, p_through bigint[], p_anchor text) returns bigint
    language plpgsql as $$
    declare removed bigint;
    begin
      perform set_config('avow.audit_prune', 'on', true);
      delete from audit_events
       where tenant_id = p_tenant and seq <= coalesce(p_through[lane + 1], 0);
      get diagnostics removed = row_count;
      delete from audit_checkpoints c
       where c.tenant_id = p_tenant and c.id <> p_anchor
         and case when c.heads is null then c.seq <= coalesce(p_through[1], 0)
                  else not exists (
                    select 1 from jsonb_array_elements(c.heads) h
                     where (h->>'seq')::bigint > coalesce(p_through[(h->>'lane')::int + 1], 0))
             end;
      perform set_config('avow.audit_prune', 'off', true);
      return removed;
    end $$`.execute(db);
}
