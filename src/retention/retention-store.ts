import { type RawBuilder, sql } from 'kysely';
import type { Db } from '../db/database.js';
import type { Duration } from '../register/duration.js';
import type { RetentionTrigger } from '../register/register-schema.js';
import type { PlannedKeep, PlannedRule, RetentionPlan } from './retention-plan.js';

/**
 * SQL for retention. The sweep is set-based: one statement finds every due
 * record of a tenant (each rule and keep is a column computed per row), and
 * batches delete by primary key, so a sweep costs about what the plain
 * deletes of the same rows cost.
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
  /** Per rule (by plan order): when it makes this record due; null when the rule does not cover it. */
  ruleDue: (number | null)[];
  /** Per rule: which of its triggers fired first. */
  ruleTrigger: (string | null)[];
  /** Per keep: until when it holds the record; null when it does not cover it. */
  keepUntil: (number | null)[];
};

const interval = (d: Duration): RawBuilder<unknown> =>
  // Integers from the parsed duration: nothing user-written reaches the SQL text.
  sql.raw(
    `interval '${Math.trunc(d.years)} years ${Math.trunc(d.months)} months ${Math.trunc(d.weeks * 7 + d.days)} days'`,
  );

/** Calendar addition in UTC, whatever the session's time zone: a month after 31 Jan is the end of Feb. */
const plus = (at: RawBuilder<unknown>, d: Duration): RawBuilder<unknown> =>
  sql`((${at}) at time zone 'UTC' + ${interval(d)}) at time zone 'UTC'`;

const textArray = (values: readonly string[]) => sql`${sql.val([...values])}::text[]`;

const likePatterns = (keys: readonly string[]) =>
  keys.map((k) => `${k.replace(/[\\%_]/g, '\\$&')}.%`);

/** The record's category is one of `keys` or sits under one of them. */
export const categoryCovered = (
  column: RawBuilder<unknown>,
  keys: readonly string[],
): RawBuilder<unknown> =>
  sql`(${column} = any(${textArray(keys)}) or ${column} like any(${textArray(likePatterns(keys))}))`;

function triggerTime(
  trigger: RetentionTrigger,
  purposes: string[] | null,
  tenantEndsAt: Date | null,
): RawBuilder<unknown> {
  const states = (aggregate: RawBuilder<unknown>) =>
    sql`(select ${aggregate} from subject_purpose_state ps where ps.tenant_id = r.tenant_id and ps.subject_id = r.subject_id and ps.purpose = any(r.purposes)${
      purposes ? sql` and ps.purpose = any(${textArray(purposes)})` : sql``
    })`;
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
      return states(
        sql`case when bool_and(ps.objected_at is not null) then max(ps.objected_at) end`,
      );
    case 'purpose_fulfilled':
      // Nothing records when a purpose is fulfilled; such a rule never fires by itself.
      return sql`null::timestamptz`;
  }
}

function ruleApplies(rule: PlannedRule): RawBuilder<unknown> {
  const parts: RawBuilder<unknown>[] = [];
  if (rule.categories.length > 0) parts.push(categoryCovered(sql`r.category`, rule.categories));
  if (rule.purposes) parts.push(sql`r.purposes && ${textArray(rule.purposes)}`);
  if (parts.length === 0) return sql`false`;
  return sql.join(parts, sql` and `);
}

const epoch = (at: RawBuilder<unknown>) => sql`(extract(epoch from ${at}) * 1000)::float8`;

/**
 * Every record that every rule covering it has reached by `asOf`, with the
 * time each rule and keep gives it. Records of erased or merged subjects are
 * not looked at (they have none left).
 */
export async function findReachedRecords(
  db: Db,
  tenantId: string,
  plan: RetentionPlan,
  options: { asOf: Date; tenantEndsAt: Date | null },
): Promise<DueRow[]> {
  if (plan.rules.length === 0) return [];
  const auditKeep = plan.keeps.find((k) => k.kind === 'audit_log');
  const ruleColumns: RawBuilder<unknown>[] = [];
  const ruleTriggerColumns: RawBuilder<unknown>[] = [];
  const applies: RawBuilder<unknown>[] = [];
  for (const rule of plan.rules) {
    const perTrigger = rule.triggers.map((t) =>
      plus(triggerTime(t, rule.purposes, options.tenantEndsAt), rule.duration),
    );
    const due =
      perTrigger.length === 1
        ? (perTrigger[0] as RawBuilder<unknown>)
        : sql`least(${sql.join(perTrigger)})`;
    const when = ruleApplies(rule);
    applies.push(when);
    ruleColumns.push(
      sql`case when ${when} then coalesce(${due}, 'infinity'::timestamptz) else '-infinity'::timestamptz end`,
    );
    ruleTriggerColumns.push(
      sql`case ${sql.join(
        rule.triggers.map((t, i) => sql`when ${perTrigger[i]} = ${due} then ${t}::text`),
        sql` `,
      )} end`,
    );
  }
  const keepColumns = plan.keeps.map((keep) =>
    keepColumn(keep, plan.rules, applies, options.tenantEndsAt, auditKeep),
  );
  const inner = sql`
    select r.id, r.subject_id, r.category, s.status as subject_status,
      ${sql.join(ruleColumns.map((c, i) => sql`${c} as ${sql.ref(`r${i}`)}`))},
      ${sql.join(ruleTriggerColumns.map((c, i) => sql`${c} as ${sql.ref(`t${i}`)}`))}
      ${keepColumns.length > 0 ? sql`, ${sql.join(keepColumns.map((c, i) => sql`${c} as ${sql.ref(`k${i}`)}`))}` : sql``}
    from vault_records r
    join subjects s on s.tenant_id = r.tenant_id and s.id = r.subject_id
    where r.tenant_id = ${tenantId}
      and s.status in ('active', 'pseudonymized')
      and (${sql.join(applies, sql` or `)})`;
  const ruleRefs = plan.rules.map((_, i) => sql.ref(`x.r${i}`));
  const rows = await sql<Record<string, unknown>>`
    select x.id, x.subject_id, x.category, x.subject_status,
      ${sql.join(plan.rules.map((_, i) => sql`case when ${sql.ref(`x.r${i}`)} = '-infinity' then null else ${epoch(sql.ref(`x.r${i}`))} end as ${sql.ref(`r${i}`)}`))},
      ${sql.join(plan.rules.map((_, i) => sql`${sql.ref(`x.t${i}`)}::text as ${sql.ref(`t${i}`)}`))}
      ${keepColumns.length > 0 ? sql`, ${sql.join(keepColumns.map((_, i) => sql`case when ${sql.ref(`x.k${i}`)} = '-infinity' then null else ${epoch(sql.ref(`x.k${i}`))} end as ${sql.ref(`k${i}`)}`))}` : sql``}
    from (${inner}) x
    where ${ruleRefs.length === 1 ? ruleRefs[0] : sql`greatest(${sql.join(ruleRefs)})`} <= ${options.asOf}::timestamptz
    order by x.subject_id, x.id`.execute(db.withoutPlugins());
  return rows.rows.map((row) => ({
    id: row.id as string,
    subjectId: row.subject_id as string,
    category: row.category as string,
    subjectStatus: row.subject_status as string,
    ruleDue: plan.rules.map((_, i) => toNumber(row[`r${i}`])),
    ruleTrigger: plan.rules.map((_, i) => (row[`t${i}`] as string | null) ?? null),
    keepUntil: plan.keeps.map((_, i) => toNumber(row[`k${i}`])),
  }));
}

function toNumber(value: unknown): number | null {
  if (value === null || value === undefined) return null;
  return typeof value === 'number' ? value : Number(value);
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

/** Deletes records (and their rectification history) by id. */
export async function deleteRecords(
  tx: Db,
  tenantId: string,
  ids: readonly string[],
): Promise<{ id: string; subjectId: string; category: string }[]> {
  if (ids.length === 0) return [];
  await tx
    .deleteFrom('vaultRecordHistory')
    .where('tenantId', '=', tenantId)
    .where('recordId', '=', sql<string>`any(${textArray(ids)})`)
    .execute();
  return tx
    .deleteFrom('vaultRecords')
    .where('tenantId', '=', tenantId)
    .where('id', '=', sql<string>`any(${textArray(ids)})`)
    .returning(['id', 'subjectId', 'category'])
    .execute();
}

/** Anonymisation: what stays is a count per category, source and month collected; the records go. */
export async function anonymizeRecords(
  tx: Db,
  tenantId: string,
  ids: readonly string[],
): Promise<{ id: string; subjectId: string; category: string }[]> {
  if (ids.length === 0) return [];
  await sql`
    insert into retention_aggregates (tenant_id, category, source, period, records)
    select tenant_id, category, source, date_trunc('month', collected_at at time zone 'UTC')::date, count(*)
    from vault_records where tenant_id = ${tenantId} and id = any(${textArray(ids)})
    group by tenant_id, category, source, 3
    on conflict (tenant_id, category, source, period) do update set records = retention_aggregates.records + excluded.records`.execute(
    tx,
  );
  return deleteRecords(tx, tenantId, ids);
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
  await sql`
    insert into subject_keys (tenant_id, subject_id, wrapped_key, master_key_version, destroyed_at)
    select ${tenantId}, id, null, null, ${at}::timestamptz from unnest(${textArray(subjectIds)}) as u(id)
    on conflict (tenant_id, subject_id) do update
      set wrapped_key = null, master_key_version = null, destroyed_at = coalesce(subject_keys.destroyed_at, excluded.destroyed_at)`.execute(
    tx,
  );
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
