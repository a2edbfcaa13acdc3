import { type RawBuilder, sql } from 'kysely';
import { destroySubjectKeys } from '../crypto/subject-keys.js';
import type { Db } from '../db/database.js';
import type { Duration } from '../register/duration.js';
import type { RetentionTrigger } from '../register/register-schema.js';
import type { PlannedKeep, PlannedRule, RetentionPlan } from './retention-plan.js';

/**
 * SQL for retention. The sweep is set-based: one statement finds every due
 * record of a tenant (index scans narrow to the records a rule can have
 * reached, the exact calendar test runs on those), and batches delete by
 * primary key, one statement per action and batch.
 */

// ---- legal holds

export type HoldScope = 'tenant' | 'subject' | 'category';

export type LegalHold = {
  id: string;
  scope: HoldScope;
  target: string | null;
  reason: string;
  createdBy: string;
  createdAt: Date;
  releasedAt: Date | null;
  releasedBy: string | null;
  releaseReason: string | null;
};

const holdColumns = [
  'id',
  'scope',
  'target',
  'reason',
  'createdBy',
  'createdAt',
  'releasedAt',
  'releasedBy',
  'releaseReason',
] as const;

export async function insertHold(
  db: Db,
  row: {
    tenantId: string;
    id: string;
    scope: HoldScope;
    target: string | null;
    reason: string;
    createdBy: string;
    at: Date;
  },
): Promise<LegalHold> {
  const { at, ...values } = row;
  return db
    .insertInto('legalHolds')
    .values({ ...values, createdAt: at })
    .returning(holdColumns)
    .executeTakeFirstOrThrow();
}

export async function findHold(
  db: Db,
  tenantId: string,
  id: string,
): Promise<LegalHold | undefined> {
  return db
    .selectFrom('legalHolds')
    .select(holdColumns)
    .where('tenantId', '=', tenantId)
    .where('id', '=', id)
    .executeTakeFirst();
}

export async function listHolds(
  db: Db,
  tenantId: string,
  options: { active?: boolean; after?: string; limit?: number } = {},
): Promise<LegalHold[]> {
  let query = db
    .selectFrom('legalHolds')
    .select(holdColumns)
    .where('tenantId', '=', tenantId)
    .orderBy('id');
  if (options.active) query = query.where('releasedAt', 'is', null);
  if (options.after) query = query.where('id', '>', options.after);
  if (options.limit) query = query.limit(options.limit);
  return query.execute();
}

export async function releaseHold(
  db: Db,
  tenantId: string,
  id: string,
  changes: { by: string; reason: string | null; at: Date },
): Promise<LegalHold | undefined> {
  return db
    .updateTable('legalHolds')
    .set({ releasedAt: changes.at, releasedBy: changes.by, releaseReason: changes.reason })
    .where('tenantId', '=', tenantId)
    .where('id', '=', id)
    .where('releasedAt', 'is', null)
    .returning(holdColumns)
    .executeTakeFirst();
}

/**
 * Serialises hold changes with sweep batches of the same tenant: a hold placed
 * while a sweep runs is seen by every batch that starts after it commits.
 */
export async function lockTenantRetention(tx: Db, tenantId: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext(${`avow.retention:${tenantId}`}))`.execute(tx);
}

// ---- runs

export type StoredRun = {
  id: string;
  status: 'running' | 'completed' | 'failed';
  startedBy: string;
  asOf: Date;
  registerVersion: string | null;
  startedAt: Date;
  finishedAt: Date | null;
  report: unknown;
};

const runColumns = [
  'id',
  'status',
  'startedBy',
  'asOf',
  'registerVersion',
  'startedAt',
  'finishedAt',
  'report',
] as const;

export async function insertRun(
  db: Db,
  row: {
    tenantId: string;
    id: string;
    startedBy: string;
    asOf: Date;
    registerVersion: string | null;
    at: Date;
    report: unknown;
  },
): Promise<void> {
  await db
    .insertInto('retentionRuns')
    .values({
      tenantId: row.tenantId,
      id: row.id,
      status: 'running',
      startedBy: row.startedBy,
      asOf: row.asOf,
      registerVersion: row.registerVersion,
      startedAt: row.at,
      report: JSON.stringify(row.report),
    })
    .execute();
}

export async function finishRun(
  db: Db,
  tenantId: string,
  id: string,
  changes: { status: 'completed' | 'failed'; at: Date; report: unknown },
): Promise<void> {
  await db
    .updateTable('retentionRuns')
    .set({ status: changes.status, finishedAt: changes.at, report: JSON.stringify(changes.report) })
    .where('tenantId', '=', tenantId)
    .where('id', '=', id)
    .execute();
}

export async function findRun(
  db: Db,
  tenantId: string,
  id: string,
): Promise<StoredRun | undefined> {
  return db
    .selectFrom('retentionRuns')
    .select(runColumns)
    .where('tenantId', '=', tenantId)
    .where('id', '=', id)
    .executeTakeFirst();
}

export async function listRuns(
  db: Db,
  tenantId: string,
  page: { before?: string; limit: number },
): Promise<StoredRun[]> {
  let query = db
    .selectFrom('retentionRuns')
    .select(runColumns)
    .where('tenantId', '=', tenantId)
    .orderBy('id', 'desc')
    .limit(page.limit);
  if (page.before) query = query.where('id', '<', page.before);
  return query.execute();
}

// ---- finding due records

/** One record the rules have reached; times in epoch milliseconds (Infinity: kept until a trigger happens). */
export type DueRow = {
  id: string;
  subjectId: string;
  category: string;
  subjectStatus: string;
  /**
   * The rule that decides the record (plan order): of the rules covering it,
   * the one due last; the first of several due at the same time.
   */
  rule: number;
  /** Which of that rule's triggers fired first. */
  trigger: string | null;
  /** The later of that rule's due time and every covering keep's (Infinity: kept until a trigger happens). */
  dueAt: number;
};

const interval = (d: Duration): RawBuilder<unknown> =>
  // Integers from the parsed duration: nothing user-written reaches the SQL text.
  sql.raw(
    `interval '${Math.trunc(d.years)} years ${Math.trunc(d.months)} months ${Math.trunc(d.weeks * 7 + d.days)} days'`,
  );

/** Calendar addition in UTC, whatever the session's time zone: a month after 31 Jan is the end of Feb. */
const plus = (at: RawBuilder<unknown>, d: Duration): RawBuilder<unknown> =>
  sql`((${at}) at time zone 'UTC' + ${interval(d)}) at time zone 'UTC'`;

const DAY_MS = 86_400_000;

/**
 * The latest trigger time from which `d` can reach `asOf`. A calendar year is
 * at least 365 days and any run of n months at least 28n days (UTC has no DST),
 * so `trigger + d <= asOf` implies `trigger <= asOf - that`; one more day of
 * margin. Only narrows the records looked at: the exact calendar test follows.
 */
export const latestTrigger = (asOf: Date, d: Duration): Date =>
  new Date(
    asOf.getTime() -
      (Math.trunc(d.years) * 365 +
        Math.trunc(d.months) * 28 +
        Math.trunc(d.weeks * 7 + d.days) -
        1) *
        DAY_MS,
  );

const textArray = (values: readonly string[]) => sql`${sql.val([...values])}::text[]`;

const likePatterns = (keys: readonly string[]) =>
  keys.map((k) => `${k.replace(/[\\%_]/g, '\\$&')}.%`);

/** The record's category is one of `keys` or sits under one of them. */
export const categoryCovered = (
  column: RawBuilder<unknown>,
  keys: readonly string[],
): RawBuilder<unknown> =>
  sql`(${column} = any(${textArray(keys)}) or ${column} like any(${textArray(likePatterns(keys))}))`;

/**
 * The same test written so the vault_records_category_collected index
 * (text_pattern_ops) serves it: each key and its `key.` prefix as a byte range,
 * whatever the database's collation.
 */
const categoryCoveredIndexed = (keys: readonly string[]): RawBuilder<unknown> =>
  sql`(${sql.join(
    keys.map(
      (k) => sql`r.category = ${k} or (r.category ~>=~ ${`${k}.`} and r.category ~<~ ${`${k}/`})`,
    ),
    sql` or `,
  )})`;

function triggerTime(
  trigger: RetentionTrigger,
  purposes: string[] | null,
  tenantEndsAt: Date | null,
): RawBuilder<unknown> {
  const states = (aggregate: RawBuilder<unknown>) =>
    sql`(select ${aggregate} from subject_purpose_state ps where ps.tenant_id = r.tenant_id and ps.subject_id = r.subject_id and ps.purpose = any(r.purposes)${
      purposes ? sql` and ps.purpose = any(${textArray(purposes)})` : sql``
    })`;
  // Set for every purpose of the rule the record serves (a purpose with no
  // state row, or a row without the time, has not had it): the latest time.
  const everyServed = (column: RawBuilder<unknown>) => {
    const served = sql`(select count(distinct p) from unnest(r.purposes) p${
      purposes ? sql` where p = any(${textArray(purposes)})` : sql``
    })`;
    return states(sql`case when count(${column}) = ${served} then max(${column}) end`);
  };
  switch (trigger) {
    case 'collected':
      return sql`r.collected_at`;
    case 'last_activity':
      return sql`s.last_activity_at`;
    case 'contract_end':
      // The subject's own contract, or the tenant's: whichever ends first.
      return sql`least(coalesce(s.contract_ended_at, s.relationship_ended_at), ${tenantEndsAt}::timestamptz)`;
    case 'relationship_end':
      return sql`s.relationship_ended_at`;
    case 'role_ended':
      return sql`s.role_ended_at`;
    case 'account_deleted':
      return sql`s.account_deleted_at`;
    case 'consent_withdrawn':
      // Withdrawn for every purpose of the rule the record serves: the last withdrawal starts the clock.
      return states(sql`case when bool_and(ps.consent = 'withdrawn') then max(ps.consent_at) end`);
    case 'objection':
      // Objected to every purpose of the rule the record serves: the last objection starts the clock.
      return everyServed(sql`ps.objected_at`);
    case 'purpose_fulfilled':
      // Fulfilled for every purpose of the rule the record serves: the last fulfilment starts the clock.
      return everyServed(sql`ps.fulfilled_at`);
  }
}

function ruleApplies(rule: PlannedRule): RawBuilder<unknown> {
  const parts: RawBuilder<unknown>[] = [];
  if (rule.categories.length > 0) parts.push(categoryCovered(sql`r.category`, rule.categories));
  if (rule.purposes) parts.push(sql`r.purposes && ${textArray(rule.purposes)}`);
  if (parts.length === 0) return sql`false`;
  return sql.join(parts, sql` and `);
}

/** ruleApplies in the form the candidate scans can use an index for. */
function ruleAppliesIndexed(rule: PlannedRule): RawBuilder<unknown> {
  const parts: RawBuilder<unknown>[] = [];
  if (rule.categories.length > 0) parts.push(categoryCoveredIndexed(rule.categories));
  if (rule.purposes) parts.push(sql`r.purposes && ${textArray(rule.purposes)}`);
  return sql.join(parts, sql` and `);
}

const subjectColumn: Partial<Record<RetentionTrigger, string>> = {
  last_activity: 's.last_activity_at',
  relationship_end: 's.relationship_ended_at',
  role_ended: 's.role_ended_at',
  account_deleted: 's.account_deleted_at',
};

// The columns the exact test reads from a candidate record.
const candidateColumns = sql`r.tenant_id, r.id, r.subject_id, r.category, r.purposes, r.collected_at`;

/**
 * The records one trigger of one rule can have reached by `asOf`: a superset
 * (the time bound has a day of margin, the consent tests are looser), read
 * through an index where there is one, so a sweep reads the due records and
 * not the whole vault. Every trigger has one; null only for a trigger this
 * function does not know.
 */
function candidateScan(
  tenantId: string,
  rule: PlannedRule,
  trigger: RetentionTrigger,
  options: { asOf: Date; tenantEndsAt: Date | null },
): RawBuilder<unknown> | null {
  const bound = latestTrigger(options.asOf, rule.duration);
  const applies = ruleAppliesIndexed(rule);
  const records = sql`from vault_records r where r.tenant_id = ${tenantId} and ${applies}`;
  const ofSubjects = (condition: RawBuilder<unknown>) =>
    sql`select ${candidateColumns} from subjects s
      join vault_records r on r.tenant_id = s.tenant_id and r.subject_id = s.id
      where s.tenant_id = ${tenantId} and s.status in ('active', 'pseudonymized') and (${condition}) and ${applies}`;
  const column = subjectColumn[trigger];
  if (column) return ofSubjects(sql`${sql.raw(column)} <= ${bound}::timestamptz`);
  switch (trigger) {
    case 'collected':
      return sql`select ${candidateColumns} ${records} and r.collected_at <= ${bound}::timestamptz`;
    case 'contract_end':
      // The tenant's contract end reaches every subject at once.
      if (options.tenantEndsAt && options.tenantEndsAt.getTime() <= bound.getTime())
        return sql`select ${candidateColumns} ${records}`;
      return ofSubjects(
        sql`s.contract_ended_at <= ${bound}::timestamptz or s.relationship_ended_at <= ${bound}::timestamptz`,
      );
    case 'consent_withdrawn':
    case 'objection':
    case 'purpose_fulfilled': {
      // A clock that started needs at least one withdrawal (objection, fulfilment) old enough.
      const state =
        trigger === 'consent_withdrawn'
          ? sql`ps.consent = 'withdrawn' and ps.consent_at <= ${bound}::timestamptz`
          : trigger === 'objection'
            ? sql`ps.objected_at <= ${bound}::timestamptz`
            : sql`ps.fulfilled_at <= ${bound}::timestamptz`;
      return sql`select ${candidateColumns} ${records} and r.subject_id in (
        select ps.subject_id from subject_purpose_state ps where ps.tenant_id = ${tenantId} and ${state}${
          rule.purposes ? sql` and ps.purpose = any(${textArray(rule.purposes)})` : sql``
        })`;
    }
    default:
      return null;
  }
}

const epoch = (at: RawBuilder<unknown>) => sql`(extract(epoch from ${at}) * 1000)::float8`;

/**
 * Every record that every rule covering it has reached by `asOf`, with the
 * time each rule and keep gives it. Records of erased or merged subjects are
 * not looked at (they have none left).
 *
 * Two steps in one statement: index scans per rule and trigger collect the
 * records that may be due (see candidateScan), then the exact calendar test
 * (every covering rule due, each keep's time) runs on those alone. A record
 * that also serves a purpose no covering rule sets an end to is kept: a
 * customer who withdraws newsletter consent keeps the e-mail address the
 * contract uses, even when the register gives the contract no retention rule.
 */
export async function findReachedRecords(
  db: Db,
  tenantId: string,
  plan: RetentionPlan,
  options: { asOf: Date; tenantEndsAt: Date | null },
): Promise<DueRow[]> {
  if (plan.rules.length === 0) return [];
  const auditKeep = plan.keeps.find((k) => k.kind === 'audit_log');
  const scans: RawBuilder<unknown>[] = [];
  const ruleColumns: RawBuilder<unknown>[] = [];
  const ruleTriggerColumns: RawBuilder<unknown>[] = [];
  const applies: RawBuilder<unknown>[] = [];
  // Per purpose `p` of a record: some rule covering the record sets an end to that use.
  const governs: RawBuilder<unknown>[] = [];
  for (const rule of plan.rules) {
    const when = ruleApplies(rule);
    applies.push(when);
    governs.push(rule.purposes ? sql`(${when} and p = any(${textArray(rule.purposes)}))` : when);
    if (rule.categories.length > 0 || rule.purposes) {
      for (const trigger of rule.triggers) {
        const scan = candidateScan(tenantId, rule, trigger, options);
        if (scan) scans.push(scan);
      }
    }
    const perTrigger = rule.triggers.map((t) =>
      plus(triggerTime(t, rule.purposes, options.tenantEndsAt), rule.duration),
    );
    const due =
      perTrigger.length === 1
        ? (perTrigger[0] as RawBuilder<unknown>)
        : sql`least(${sql.join(perTrigger)})`;
    ruleColumns.push(
      sql`case when ${when} then coalesce(${due}, 'infinity'::timestamptz) else '-infinity'::timestamptz end`,
    );
    // Only read for a rule that covers the record; the guard spares the consent subqueries elsewhere.
    ruleTriggerColumns.push(
      sql`case when ${when} then case ${sql.join(
        rule.triggers.map((t, i) => sql`when ${perTrigger[i]} = ${due} then ${t}::text`),
        sql` `,
      )} end end`,
    );
  }
  if (scans.length === 0) return [];
  const keepColumns = plan.keeps.map((keep) =>
    keepColumn(keep, plan.rules, applies, options.tenantEndsAt, auditKeep),
  );
  // A record several scans find comes back once per scan; the rows are sorted by id, so duplicates are neighbours.
  const candidates = sql.join(scans, sql` union all `);
  const inner = sql`
    select r.id, r.subject_id, r.category, s.status as subject_status,
      ${sql.join(ruleColumns.map((c, i) => sql`${c} as ${sql.ref(`r${i}`)}`))},
      ${sql.join(ruleTriggerColumns.map((c, i) => sql`${c} as ${sql.ref(`t${i}`)}`))}
      ${keepColumns.length > 0 ? sql`, ${sql.join(keepColumns.map((c, i) => sql`${c} as ${sql.ref(`k${i}`)}`))}` : sql``}
    from (${candidates}) r
    join subjects s on s.tenant_id = r.tenant_id and s.id = r.subject_id
    where s.status in ('active', 'pseudonymized')
      and not exists (select 1 from unnest(r.purposes) p where not (${sql.join(governs, sql` or `)}))`;
  const refs = (prefix: string, count: number) =>
    Array.from({ length: count }, (_, i) => sql.ref(`${prefix}${i}`));
  const most = (items: RawBuilder<unknown>[]) =>
    items.length === 1 ? (items[0] as RawBuilder<unknown>) : sql`greatest(${sql.join(items)})`;
  const ruleRefs = refs('x.r', plan.rules.length);
  // Per record only what decides it (few columns: moving rows out of PGlite costs per field):
  // the rule due last (the first of equals), its first trigger, and the later of its due time and the keeps'.
  // Rows leave as JSON arrays, 10,000 to a field: PGlite (and node-postgres) pay per field, JSON.parse is quick.
  const chunks = await sql<{ chunk: string }>`
    select json_agg(json_build_array(z.id, z.subject_id, z.category, z.subject_status, z.rule, z.trigger, z.due_at) order by z.n)::text as chunk
    from (
      select y.id, y.subject_id, y.category, y.subject_status, y.rule,
        case y.rule ${sql.join(
          plan.rules.map((_, i) => sql`when ${sql.lit(i)} then ${sql.ref(`y.t${i}`)}::text`),
          sql` `,
        )} end as trigger,
        ${epoch(most([sql.ref('y.due'), ...refs('y.k', keepColumns.length)]))} as due_at,
        row_number() over (order by y.subject_id, y.id) as n
      from (
        select x.*, case ${sql.join(
          ruleRefs.map((ref, i) => sql`when ${ref} = ${most(ruleRefs)} then ${sql.lit(i)}`),
          sql` `,
        )} end as rule, ${most(ruleRefs)} as due
        from (${inner}) x
      ) y
      where y.due <= ${options.asOf}::timestamptz and y.due > '-infinity'
    ) z
    group by (z.n - 1) / 10000
    order by (z.n - 1) / 10000`.execute(db.withoutPlugins());
  const found: DueRow[] = [];
  for (const { chunk } of chunks.rows) {
    for (const [id, subjectId, category, subjectStatus, rule, trigger, dueAt] of JSON.parse(
      chunk,
    ) as [string, string, string, string, number, string | null, number | string][]) {
      // Sorted by subject and id, so a record two scans found repeats its neighbour.
      if (found.at(-1)?.id === id) continue;
      // A time that no trigger has started yet is "Infinity" (JSON has no infinite number).
      found.push({ id, subjectId, category, subjectStatus, rule, trigger, dueAt: Number(dueAt) });
    }
  }
  return found;
}

function keepColumn(
  keep: PlannedKeep,
  rules: PlannedRule[],
  applies: RawBuilder<unknown>[],
  tenantEndsAt: Date | null,
  _audit: PlannedKeep | undefined,
): RawBuilder<unknown> {
  let until: RawBuilder<unknown>;
  if (keep.trigger) {
    until = plus(triggerTime(keep.trigger, null, tenantEndsAt), keep.duration);
  } else {
    // Kept with the audit log: as long after each covering rule's own trigger as the log is kept.
    const perRule = rules.map((rule, i) => {
      const times = rule.triggers.map((t) =>
        plus(triggerTime(t, rule.purposes, tenantEndsAt), keep.duration),
      );
      const first =
        times.length === 1 ? (times[0] as RawBuilder<unknown>) : sql`least(${sql.join(times)})`;
      return sql`case when ${applies[i]} then ${first} end`;
    });
    until =
      perRule.length === 1
        ? (perRule[0] as RawBuilder<unknown>)
        : sql`greatest(${sql.join(perRule)})`;
  }
  return sql`case when ${categoryCovered(sql`r.category`, keep.categories)} then coalesce(${until}, 'infinity'::timestamptz) else '-infinity'::timestamptz end`;
}

// ---- applying

/**
 * Deletes records (and their rectification history) by id in one statement;
 * returns the ids that went.
 */
export async function deleteRecords(
  tx: Db,
  tenantId: string,
  ids: readonly string[],
): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await sql<{ id: string }>`
    with history as (
      delete from vault_record_history where tenant_id = ${tenantId} and record_id = any(${textArray(ids)})
    )
    delete from vault_records where tenant_id = ${tenantId} and id = any(${textArray(ids)})
    returning id`.execute(tx);
  return rows.rows.map((r) => r.id);
}

/**
 * Anonymisation: what stays is a count per category, source and month
 * collected; the records (and their history) go, in one statement.
 */
export async function anonymizeRecords(
  tx: Db,
  tenantId: string,
  ids: readonly string[],
): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await sql<{ id: string }>`
    with gone as (
      delete from vault_records where tenant_id = ${tenantId} and id = any(${textArray(ids)})
      returning id, category, source, collected_at
    ), history as (
      delete from vault_record_history where tenant_id = ${tenantId} and record_id = any(${textArray(ids)})
    ), counted as (
      insert into retention_aggregates (tenant_id, category, source, period, records)
      select ${tenantId}, category, source, date_trunc('month', collected_at at time zone 'UTC')::date, count(*)
      from gone group by category, source, 4
      on conflict (tenant_id, category, source, period) do update set records = retention_aggregates.records + excluded.records
    )
    select id from gone`.execute(tx);
  return rows.rows.map((r) => r.id);
}

export async function listAggregates(db: Db, tenantId: string) {
  return db
    .selectFrom('retentionAggregates')
    .select(['category', 'source', 'period', 'records'])
    .where('tenantId', '=', tenantId)
    .orderBy('category')
    .orderBy('period')
    .execute();
}

/** Of these subjects, those with no record left in the vault. */
export async function subjectsWithoutRecords(
  tx: Db,
  tenantId: string,
  subjectIds: readonly string[],
): Promise<string[]> {
  if (subjectIds.length === 0) return [];
  const rows = await sql<{ id: string }>`
    select id from unnest(${textArray(subjectIds)}) as u(id)
    where not exists (select 1 from vault_records r where r.tenant_id = ${tenantId} and r.subject_id = u.id)`.execute(
    tx,
  );
  return rows.rows.map((r) => r.id);
}

/**
 * Erases subjects as a whole, as the vault's erase does, for many at once in
 * the caller's transaction: data keys destroyed first (crypto-shredding, so
 * every copy and backup of their ciphertext is unreadable), identities and
 * purpose states deleted, the subject row kept as a tombstone.
 */
export async function eraseSubjects(
  tx: Db,
  tenantId: string,
  subjectIds: readonly string[],
  at: Date,
): Promise<string[]> {
  if (subjectIds.length === 0) return [];
  await destroySubjectKeys(tx, tenantId, subjectIds, at);
  await tx
    .deleteFrom('subjectIdentities')
    .where('tenantId', '=', tenantId)
    .where('subjectId', '=', sql<string>`any(${textArray(subjectIds)})`)
    .execute();
  await tx
    .deleteFrom('subjectPurposeState')
    .where('tenantId', '=', tenantId)
    .where('subjectId', '=', sql<string>`any(${textArray(subjectIds)})`)
    .execute();
  const erased = await tx
    .updateTable('subjects')
    .set({
      status: 'erased',
      erasedAt: at,
      updatedAt: at,
      pseudonym: null,
      retainedCategories: null,
      restrictedAt: null,
      restrictionGround: null,
      lastActivityAt: null,
      relationshipStartedAt: null,
      relationshipEndedAt: null,
      contractEndedAt: null,
      roleEndedAt: null,
      accountDeletedAt: null,
    })
    .where('tenantId', '=', tenantId)
    .where('id', '=', sql<string>`any(${textArray(subjectIds)})`)
    .where('status', '<>', 'erased')
    .returning('id')
    .execute();
  return erased.map((r) => r.id);
}

export async function tenantIds(db: Db): Promise<string[]> {
  const rows = await db.selectFrom('tenants').select('id').orderBy('id').execute();
  return rows.map((r) => r.id);
}

export async function tenantContractEnd(
  db: Db,
  tenantId: string,
): Promise<{ contractEnd: string | null } | undefined> {
  return db
    .selectFrom('tenants')
    .select('contractEnd')
    .where('id', '=', tenantId)
    .executeTakeFirst();
}
