import type { AuditContext, AuditEventInput } from '../audit/audit-events.js';
import { forgetSubjects } from '../consent/consent-store.js';
import type { Db } from '../db/database.js';
import type { Policy } from '../decisions/decide.js';
import type { PolicySource } from '../decisions/policy-source.js';
import { AppError, notFound } from '../errors/errors.js';
import { newId } from '../ids/ids.js';
import type { RetentionAction, RetentionTrigger } from '../register/register-schema.js';
import { listMergedSubjectIds } from '../vault/vault-store.js';
import { planFromRegister, type RetentionPlan, tenantContractEndsAt } from './retention-plan.js';
import {
  anonymizeRecords,
  type DueRow,
  deleteRecords,
  eraseSubjects,
  findHold,
  findReachedRecords,
  findRun,
  finishRun,
  type HoldScope,
  insertHold,
  insertRun,
  type LegalHold,
  listHolds,
  listRuns,
  lockTenantRetention,
  releaseHold,
  type StoredRun,
  subjectsWithoutRecords,
  tenantContractEnd,
  tenantIds,
} from './retention-store.js';

/**
 * Retention: every rule of the tenant's active register applied to the vault.
 * A dry run lists what would go and why; a run removes it in batches, each
 * batch and its audit entries in one transaction, and stores a report.
 */
export type RetentionContext = AuditContext;

export type DueItem = {
  recordId: string;
  subjectId: string;
  category: string;
  rule: string;
  action: RetentionAction;
  trigger: RetentionTrigger | null;
  dueAt: Date;
};

export type CategoryCount = { category: string; due: number; held: number; kept: number };
export type RuleReport = {
  rule: string;
  action: RetentionAction;
  due: number;
  held: number;
  kept: number;
  categories: CategoryCount[];
};

export type RetentionReport = {
  asOf: Date;
  registerVersion: string | null;
  dryRun: boolean;
  /** Records that went (a run) or would go (a dry run). */
  total: number;
  held: number;
  kept: number;
  rules: RuleReport[];
  subjectsErased: number;
  subjectsPseudonymized: number;
};

export type RetentionRun = {
  id: string;
  status: 'running' | 'completed' | 'failed';
  startedBy: string;
  startedAt: Date;
  finishedAt: Date | null;
  report: RetentionReport;
};

type Classified = {
  row: DueRow;
  rule: number;
  dueAt: number;
  trigger: string | null;
  state: 'due' | 'held' | 'kept' | 'done';
};

// Triggers about the person as a whole: when they take a subject's last record, the subject goes too.
const subjectTriggers = new Set<string>([
  'last_activity',
  'contract_end',
  'relationship_end',
  'account_deleted',
  'role_ended',
]);

export function createRetentionService(deps: {
  db: Db;
  policies: PolicySource;
  audit: { record: (db: Db, event: AuditEventInput) => Promise<unknown> };
  vault: {
    pseudonymizeUnlessHeld: (
      ctx: AuditContext & { tenantId: string },
      subjectId: string,
      options?: { keepCategories?: string[] },
    ) => Promise<{ outcome: 'pseudonymized' | 'held' | 'gone' }>;
  };
  now?: () => Date;
  /** Records per transaction. */
  batchSize?: number;
}) {
  const { db, policies, audit, vault } = deps;
  const now = deps.now ?? (() => new Date());
  const batchSize = deps.batchSize ?? 5000;

  const actorLabel = (ctx: RetentionContext) => `${ctx.actor.type}:${ctx.actor.id}`;

  async function load(
    tenantId: string,
  ): Promise<{ policy: Policy; plan: RetentionPlan; tenantEndsAt: Date | null }> {
    const [policy, tenant] = await Promise.all([
      policies.current(tenantId),
      tenantContractEnd(db, tenantId),
    ]);
    if (!tenant) throw notFound('Tenant');
    return {
      policy,
      plan: planFromRegister(policy.register),
      tenantEndsAt: tenantContractEndsAt(tenant.contractEnd),
    };
  }

  function classify(
    rows: DueRow[],
    plan: RetentionPlan,
    holds: LegalHold[],
    asOf: Date,
  ): Classified[] {
    const tenantHeld = holds.some((h) => h.scope === 'tenant');
    const subjects = new Set(holds.filter((h) => h.scope === 'subject').map((h) => h.target));
    const categories = holds.filter((h) => h.scope === 'category').map((h) => h.target as string);
    const limit = asOf.getTime();
    return rows.map((row) => {
      // The store picked the deciding rule (due last) and folded the keeps into dueAt.
      const { rule, dueAt } = row;
      const planned = plan.rules[rule];
      let state: Classified['state'] = 'due';
      if (dueAt > limit) state = 'kept';
      else if (
        tenantHeld ||
        subjects.has(row.subjectId) ||
        categories.some((c) => row.category === c || row.category.startsWith(`${c}.`))
      )
        state = 'held';
      else if (planned?.action === 'pseudonymize' && row.subjectStatus === 'pseudonymized')
        state = 'done';
      return { row, rule, dueAt, trigger: row.trigger, state };
    });
  }

  /**
   * A sweep's report of what actually went: the records its committed batches
   * removed and the subjects it pseudonymised (a hold placed mid-run can make
   * that smaller than what was found), what holds kept, and the subjects erased.
   */
  function tallyWhatWent(
    classified: Classified[],
    plan: RetentionPlan,
    done: {
      asOf: Date;
      registerVersion: string | null;
      removed: Set<string>;
      erased: number;
      pseudonymizedSubjects: Set<string>;
      heldSubjects: Set<string>;
    },
  ): RetentionReport {
    const { removed, erased, pseudonymizedSubjects, heldSubjects } = done;
    const outcome = report(classified, plan, {
      asOf: done.asOf,
      registerVersion: done.registerVersion,
      dryRun: false,
    });
    const pseudonymizing = (c: Classified) =>
      c.state === 'due' && plan.rules[c.rule]?.action === 'pseudonymize';
    const pseudonymizedRecords = new Set(
      classified
        .filter((c) => pseudonymizing(c) && pseudonymizedSubjects.has(c.row.subjectId))
        .map((c) => c.row.id),
    );
    // The report counts what actually went, which a hold placed mid-run can make smaller than what was found.
    for (const rule of outcome.rules) {
      rule.due = 0;
      for (const cat of rule.categories) cat.due = 0;
    }
    outcome.total = 0;
    for (const c of classified) {
      if (c.state !== 'due' || !(removed.has(c.row.id) || pseudonymizedRecords.has(c.row.id)))
        continue;
      const entry = outcome.rules.find((r) => r.rule === plan.rules[c.rule]?.key);
      const cat = entry?.categories.find((x) => x.category === c.row.category);
      if (entry) entry.due += 1;
      if (cat) cat.due += 1;
      outcome.total += 1;
    }
    for (const c of classified) {
      if (!pseudonymizing(c) || !heldSubjects.has(c.row.subjectId)) continue;
      const entry = outcome.rules.find((r) => r.rule === plan.rules[c.rule]?.key);
      const cat = entry?.categories.find((x) => x.category === c.row.category);
      if (entry) entry.held += 1;
      if (cat) cat.held += 1;
      outcome.held += 1;
    }
    outcome.subjectsErased = erased;
    outcome.subjectsPseudonymized = pseudonymizedSubjects.size;
    return outcome;
  }

  function report(
    classified: Classified[],
    plan: RetentionPlan,
    meta: { asOf: Date; registerVersion: string | null; dryRun: boolean },
  ): RetentionReport {
    const byRule = new Map<number, RuleReport>();
    const byCategory = new Map<string, CategoryCount>();
    let total = 0;
    let held = 0;
    let kept = 0;
    for (const c of classified) {
      if (c.state === 'done') continue;
      const planned = plan.rules[c.rule];
      if (!planned) continue;
      const entry = byRule.get(c.rule) ?? {
        rule: planned.key,
        action: planned.action,
        due: 0,
        held: 0,
        kept: 0,
        categories: [],
      };
      byRule.set(c.rule, entry);
      const key = `${c.rule}\u0000${c.row.category}`;
      let cat = byCategory.get(key);
      if (!cat) {
        cat = { category: c.row.category, due: 0, held: 0, kept: 0 };
        byCategory.set(key, cat);
        entry.categories.push(cat);
      }
      entry[c.state] += 1;
      cat[c.state] += 1;
      if (c.state === 'due') total += 1;
      else if (c.state === 'held') held += 1;
      else kept += 1;
    }
    const rules = [...byRule.entries()]
      .sort(([a], [b]) => a - b)
      .map(([, r]) => ({
        ...r,
        categories: r.categories.sort((a, b) => a.category.localeCompare(b.category)),
      }));
    return {
      ...meta,
      total,
      held,
      kept,
      rules,
      subjectsErased: 0,
      subjectsPseudonymized: 0,
    };
  }

  /** What a sweep at `asOf` (default now) would remove, and why; changes nothing. */
  async function preview(
    tenantId: string,
    options: { asOf?: Date; limit?: number } = {},
  ): Promise<{ report: RetentionReport; items: DueItem[] }> {
    const asOf = options.asOf ?? now();
    const { policy, plan, tenantEndsAt } = await load(tenantId);
    const [rows, holds] = await Promise.all([
      findReachedRecords(db, tenantId, plan, { asOf, tenantEndsAt }),
      listHolds(db, tenantId, { active: true }),
    ]);
    const classified = classify(rows, plan, holds, asOf);
    const limit = options.limit ?? 100;
    const items: DueItem[] = [];
    for (const c of classified) {
      if (items.length >= limit) break;
      const planned = plan.rules[c.rule];
      if (c.state !== 'due' || !planned) continue;
      items.push({
        recordId: c.row.id,
        subjectId: c.row.subjectId,
        category: c.row.category,
        rule: planned.key,
        action: planned.action,
        trigger: c.trigger as RetentionTrigger | null,
        dueAt: new Date(c.dueAt),
      });
    }
    return {
      report: report(classified, plan, { asOf, registerVersion: policy.version, dryRun: true }),
      items,
    };
  }

  /**
   * A sweep. Safe to run twice: what went is gone, a pseudonymised subject is
   * not pseudonymised again, so a second run finds nothing more to do.
   */
  async function run(ctx: RetentionContext, tenantId: string): Promise<RetentionRun> {
    const asOf = now();
    const { policy, plan, tenantEndsAt } = await load(tenantId);
    const runId = newId('retentionRun');
    const startedBy = actorLabel(ctx);
    const empty = report([], plan, { asOf, registerVersion: policy.version, dryRun: false });
    await insertRun(db, {
      tenantId,
      id: runId,
      startedBy,
      asOf,
      registerVersion: policy.version,
      at: asOf,
      report: empty,
    });
    // What went so far: each batch commits on its own, so a run that fails
    // part-way still reports what its committed batches removed.
    let classified: Classified[] = [];
    const removed = new Set<string>();
    let erased = 0;
    const pseudonymizedSubjects = new Set<string>();
    const heldSubjects = new Set<string>();
    const whatWent = () =>
      tallyWhatWent(classified, plan, {
        asOf,
        registerVersion: policy.version,
        removed,
        erased,
        pseudonymizedSubjects,
        heldSubjects,
      });
    try {
      const rows = await findReachedRecords(db, tenantId, plan, { asOf, tenantEndsAt });
      classified = classify(rows, plan, await listHolds(db, tenantId, { active: true }), asOf);
      const due = classified.filter((c) => c.state === 'due');
      const toPseudonymize = new Set<string>();
      for (let start = 0; start < due.length; start += batchSize) {
        const batch = due.slice(start, start + batchSize);
        const done = await db.transaction().execute(async (tx) => {
          await lockTenantRetention(tx, tenantId);
          // Holds placed since the records were found still win.
          const current = classify(
            batch.map((c) => c.row),
            plan,
            await listHolds(tx, tenantId, { active: true }),
            asOf,
          ).filter((c) => c.state === 'due');
          const ids = { delete: [] as string[], anonymize: [] as string[] };
          for (const c of current) {
            const action = plan.rules[c.rule]?.action;
            if (action === 'pseudonymize') toPseudonymize.add(c.row.subjectId);
            else if (action) ids[action].push(c.row.id);
          }
          const gone = [
            ...(await deleteRecords(tx, tenantId, ids.delete)),
            ...(await anonymizeRecords(tx, tenantId, ids.anonymize)),
          ];
          const goneIds = new Set(gone);
          const perRule = new Map<string, number>();
          const perRuleCategories = new Map<string, Record<string, number>>();
          // The rule whose records emptied a subject: its event counts the subject as erased.
          const wholeSubject = new Map<string, string>();
          for (const c of current) {
            if (!goneIds.has(c.row.id)) continue;
            const key = plan.rules[c.rule]?.key ?? '';
            perRule.set(key, (perRule.get(key) ?? 0) + 1);
            const categories = perRuleCategories.get(key) ?? {};
            categories[c.row.category] = (categories[c.row.category] ?? 0) + 1;
            perRuleCategories.set(key, categories);
            if (c.trigger && subjectTriggers.has(c.trigger) && !wholeSubject.has(c.row.subjectId))
              wholeSubject.set(c.row.subjectId, key);
          }
          const emptied = await subjectsWithoutRecords(tx, tenantId, [...wholeSubject.keys()]);
          const erasedNow = await eraseSubjects(tx, tenantId, emptied, asOf);
          // The consent ledger forgets them as a vault erasure makes it forget:
          // their state, their events' address and agent, the subjects merged
          // into them and the visitors linked to them included.
          for (const subjectId of erasedNow) {
            const merged = await listMergedSubjectIds(tx, tenantId, subjectId);
            await forgetSubjects(tx, tenantId, merged, asOf);
          }
          for (const [rule, count] of perRule) {
            await audit.record(tx, {
              ...ctx,
              tenantId,
              action: 'retention.swept',
              outcome: 'success',
              payload: {
                rule,
                removed: count,
                runId,
                categories: perRuleCategories.get(rule) ?? {},
                subjectsErased: erasedNow.filter((id) => wholeSubject.get(id) === rule).length,
              },
            });
          }
          for (const subjectId of erasedNow) {
            await audit.record(tx, {
              ...ctx,
              tenantId,
              action: 'subject.erased',
              subjectId,
              outcome: 'success',
              payload: {},
            });
          }
          return { gone: [...goneIds], erased: erasedNow.length };
        });
        for (const id of done.gone) removed.add(id);
        erased += done.erased;
      }
      // Pseudonymisation is per subject (identities go, records stay): the vault's own
      // primitive, which re-reads the holds under the tenant's retention lock. A subject
      // a hold reaches anywhere (erasure would refuse it) is left whole: its records count as held.
      const keepAll = [...policy.categoryKeys];
      for (const subjectId of toPseudonymize) {
        const { outcome: done } = await vault.pseudonymizeUnlessHeld(
          { ...ctx, tenantId },
          subjectId,
          {
            keepCategories: keepAll,
          },
        );
        if (done === 'pseudonymized') pseudonymizedSubjects.add(subjectId);
        else if (done === 'held') heldSubjects.add(subjectId);
      }
      const outcome = whatWent();
      const finishedAt = now();
      await finishRun(db, tenantId, runId, {
        status: 'completed',
        at: finishedAt,
        report: outcome,
      });
      return {
        id: runId,
        status: 'completed',
        startedBy,
        startedAt: asOf,
        finishedAt,
        report: outcome,
      };
    } catch (error) {
      await finishRun(db, tenantId, runId, {
        status: 'failed',
        at: now(),
        report: whatWent(),
      }).catch(() => {});
      throw error;
    }
  }

  function toRun(stored: StoredRun): RetentionRun {
    const raw = stored.report as RetentionReport & { asOf: string | Date };
    return {
      id: stored.id,
      status: stored.status,
      startedBy: stored.startedBy,
      startedAt: stored.startedAt,
      finishedAt: stored.finishedAt,
      report: { ...raw, asOf: new Date(raw.asOf) },
    };
  }

  async function getRun(tenantId: string, id: string): Promise<RetentionRun> {
    const stored = await findRun(db, tenantId, id);
    if (!stored) throw notFound('Retention run');
    return toRun(stored);
  }

  async function runs(
    tenantId: string,
    page: { before?: string; limit: number },
  ): Promise<RetentionRun[]> {
    return (await listRuns(db, tenantId, page)).map(toRun);
  }

  async function createHold(
    ctx: RetentionContext,
    tenantId: string,
    input: { scope: HoldScope; target?: string | undefined; reason: string },
  ): Promise<LegalHold> {
    const target = input.scope === 'tenant' ? null : (input.target ?? null);
    if (input.scope === 'tenant' && input.target !== undefined) {
      throw new AppError('validation_failed', 'A tenant hold names no target', {
        details: [{ path: 'body.target', message: 'leave out for scope tenant' }],
      });
    }
    if (input.scope !== 'tenant' && !target) {
      throw new AppError('validation_failed', 'A hold on a subject or category names it', {
        details: [
          {
            path: 'body.target',
            message:
              input.scope === 'subject'
                ? 'a subject id (sub_...)'
                : 'a category key of the register, such as user.contact',
          },
        ],
      });
    }
    if (input.scope === 'category' && target) {
      const policy = await policies.current(tenantId);
      const known = [...policy.categoryKeys];
      if (
        !known.some((k) => k === target || k.startsWith(`${target}.`) || target.startsWith(`${k}.`))
      ) {
        throw new AppError('validation_failed', 'The category is not in the active register', {
          details: [
            {
              path: 'body.target',
              message: `allowed: ${known.join(', ') || '(none: activate a register first)'}`,
            },
          ],
        });
      }
    }
    if (input.scope === 'subject' && target) {
      const subject = await db
        .selectFrom('subjects')
        .select('id')
        .where('tenantId', '=', tenantId)
        .where('id', '=', target)
        .executeTakeFirst();
      if (!subject) throw notFound('Subject');
    }
    return db.transaction().execute(async (tx) => {
      await lockTenantRetention(tx, tenantId);
      const hold = await insertHold(tx, {
        tenantId,
        id: newId('legalHold'),
        scope: input.scope,
        target,
        reason: input.reason,
        createdBy: actorLabel(ctx),
        at: now(),
      });
      await audit.record(tx, {
        ...ctx,
        tenantId,
        action: 'legal_hold.created',
        outcome: 'success',
        ...(input.scope === 'subject' && target ? { subjectId: target } : {}),
        ...(input.scope === 'category' && target ? { categories: [target] } : {}),
        payload: { holdId: hold.id, reason: input.reason },
      });
      return hold;
    });
  }

  async function releaseHoldById(
    ctx: RetentionContext,
    tenantId: string,
    id: string,
    reason: string | undefined,
  ): Promise<LegalHold> {
    return db.transaction().execute(async (tx) => {
      await lockTenantRetention(tx, tenantId);
      const released = await releaseHold(tx, tenantId, id, {
        by: actorLabel(ctx),
        reason: reason ?? null,
        at: now(),
      });
      if (!released) {
        const existing = await findHold(tx, tenantId, id);
        if (!existing) throw notFound('Legal hold');
        throw new AppError('conflict', 'The legal hold was already released');
      }
      await audit.record(tx, {
        ...ctx,
        tenantId,
        action: 'legal_hold.released',
        outcome: 'success',
        ...(released.scope === 'subject' && released.target ? { subjectId: released.target } : {}),
        payload: { holdId: id, ...(reason ? { reason } : {}) },
      });
      return released;
    });
  }

  async function holds(
    tenantId: string,
    options: { active?: boolean; after?: string; limit: number },
  ): Promise<LegalHold[]> {
    return listHolds(db, tenantId, options);
  }

  async function hold(tenantId: string, id: string): Promise<LegalHold> {
    const found = await findHold(db, tenantId, id);
    if (!found) throw notFound('Legal hold');
    return found;
  }

  return {
    preview,
    run,
    getRun,
    runs,
    createHold,
    releaseHold: releaseHoldById,
    holds,
    hold,
    tenantIds: () => tenantIds(db),
  };
}

export type RetentionService = ReturnType<typeof createRetentionService>;
