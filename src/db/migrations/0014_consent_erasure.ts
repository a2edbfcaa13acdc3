import { type Kysely, sql } from 'kysely';

/**
 * Erasure reaches the consent ledger (docs/consent.md, Erased subjects): the
 * current state of an erased person goes, and their events keep no address
 * or user agent. Subjects erased before then get the same here: the erased
 * subjects, the subjects merged into them, and the visitors linked to either.
 * Only data changes; no column or table.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const holders = sql`with recursive gone (tenant_id, id) as (
      select tenant_id, id from subjects where status = 'erased'
      union
      select s.tenant_id, s.id from subjects s
        join gone g on s.tenant_id = g.tenant_id and s.merged_into = g.id
      where s.status = 'merged'
    ), holders (tenant_id, id) as (
      select tenant_id, id from gone
      union
      select v.tenant_id, v.id from consent_visitors v
        join gone g on v.tenant_id = g.tenant_id and v.subject_id = g.id
    )`;
  await sql`${holders}
    delete from consent_state c using holders h
    where c.tenant_id = h.tenant_id and c.holder_id = h.id`.execute(db);
  await sql`${holders}
    update consent_events e set ip_anonymised = null, user_agent = null
    from holders h
    where e.tenant_id = h.tenant_id and e.holder_id = h.id
      and (e.ip_anonymised is not null or e.user_agent is not null)`.execute(db);
}
