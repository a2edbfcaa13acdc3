import { addDuration, type Duration, parseDuration } from '../register/duration.js';
import type { Register, RetentionAction, RetentionTrigger } from '../register/register-schema.js';

/**
 * What the register says about retention, resolved once per sweep into the
 * shape the SQL needs: for every rule the categories and purposes it covers
 * and its triggers; the keeps that hold records back.
 *
 * The boundary rule, the same one decisions use: a record is due at the
 * instant `trigger time + duration`, counted in calendar terms in UTC (a month
 * after 31 January is the last day of February, at the same time of day), and
 * is swept when `now >= due`.
 */
export type PlannedRule = {
  index: number;
  key: string;
  name: string | null;
  /** Category keys; a record is covered when its category is one of them or sits under one. Empty: any category. */
  categories: string[];
  /** Purposes named by the rule, or whose `retention` names it. Null: the rule is by categories only. */
  purposes: string[] | null;
  triggers: RetentionTrigger[];
  duration: Duration;
  durationText: string;
  action: RetentionAction;
};

export type PlannedKeep = {
  key: string;
  kind: 'statutory' | 'audit_log';
  categories: string[];
  /** Statutory keeps start at their own trigger; audit-log keeps at the rule's. */
  trigger: RetentionTrigger | null;
  duration: Duration;
  durationText: string;
  law: string | null;
};

export type RetentionPlan = {
  rules: PlannedRule[];
  keeps: PlannedKeep[];
};

export function planFromRegister(register: Register | null): RetentionPlan {
  const retention = register?.retention;
  if (!register || !retention) return { rules: [], keeps: [] };
  const rules: PlannedRule[] = [];
  retention.rules.forEach((rule, index) => {
    const duration = parseDuration(rule.duration);
    if (!duration) return;
    const named = register.purposes.filter((p) => p.retention === rule.key).map((p) => p.key);
    const purposes = [...new Set([...rule.purposes, ...named])];
    const triggers = [...new Set([rule.trigger, ...rule.earlierTriggers])];
    rules.push({
      index,
      key: rule.key,
      name: rule.name ?? null,
      categories: rule.categories,
      // Same reading as decisions: a rule with purposes applies to records used for them.
      purposes: purposes.length > 0 ? purposes : null,
      triggers,
      duration,
      durationText: rule.duration,
      action: rule.action,
    });
  });
  const keeps: PlannedKeep[] = [];
  for (const keep of retention.statutoryKeeps) {
    const duration = parseDuration(keep.duration);
    if (!duration) continue;
    keeps.push({
      key: keep.key,
      kind: 'statutory',
      categories: keep.categories,
      trigger: keep.trigger,
      duration,
      durationText: keep.duration,
      law: keep.law,
    });
  }
  const audit = retention.auditLog;
  const auditDuration = audit ? parseDuration(audit.duration) : undefined;
  if (audit && auditDuration && audit.keeps.length > 0) {
    keeps.push({
      key: 'audit_log',
      kind: 'audit_log',
      categories: audit.keeps,
      trigger: null,
      duration: auditDuration,
      durationText: audit.duration,
      law: null,
    });
  }
  return { rules, keeps };
}

/** When a trigger at `at` makes a record due under `duration` (see the boundary rule above). */
export function dueAt(at: Date, duration: Duration): Date {
  return addDuration(at, duration);
}

/** The moment a tenant's contract ends: it runs through its last day, so the next midnight UTC. */
export function tenantContractEndsAt(contractEnd: string | null): Date | null {
  if (!contractEnd) return null;
  const day = new Date(`${contractEnd}T00:00:00.000Z`);
  if (Number.isNaN(day.getTime())) return null;
  return new Date(day.getTime() + 24 * 60 * 60 * 1000);
}
