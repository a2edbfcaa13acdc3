import { compareDurations } from './duration.js';
import type { Purpose, Recipient, Register, RetentionRule } from './register-schema.js';
import { outsideEea } from './rules.js';

/**
 * What changed between two registers, and whether it is material: a change
 * people must be told about (and consent renewed for) before it applies.
 */
export type FieldChange = { field: string; from: unknown; to: unknown };
export type RegisterChange = {
  section: string;
  key: string;
  kind: 'added' | 'removed' | 'changed';
  fields: FieldChange[];
};
export type RegisterDiff = {
  changes: RegisterChange[];
  material: boolean;
  /** Why it is material, in words; empty when it is not. */
  reasons: string[];
  /** The changes as lines a person reads: + added, - removed, ~ changed. */
  text: string;
};

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

function fieldChanges(a: Record<string, unknown>, b: Record<string, unknown>): FieldChange[] {
  const fields = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  return fields
    .filter((f) => !same(a[f], b[f]))
    .map((field) => ({ field, from: a[field], to: b[field] }));
}

function keyed<T>(
  section: string,
  from: T[],
  to: T[],
  keyOf: (item: T) => string,
): RegisterChange[] {
  const before = new Map(from.map((i) => [keyOf(i), i]));
  const after = new Map(to.map((i) => [keyOf(i), i]));
  const out: RegisterChange[] = [];
  for (const [key, item] of after) {
    const old = before.get(key);
    if (!old) out.push({ section, key, kind: 'added', fields: [] });
    else {
      const fields = fieldChanges(old as Record<string, unknown>, item as Record<string, unknown>);
      if (fields.length > 0) out.push({ section, key, kind: 'changed', fields });
    }
  }
  for (const key of before.keys())
    if (!after.has(key)) out.push({ section, key, kind: 'removed', fields: [] });
  return out;
}

function single(section: string, from: unknown, to: unknown): RegisterChange[] {
  if (same(from, to)) return [];
  if (from === undefined) return [{ section, key: section, kind: 'added', fields: [] }];
  if (to === undefined) return [{ section, key: section, kind: 'removed', fields: [] }];
  return [
    {
      section,
      key: section,
      kind: 'changed',
      fields: fieldChanges(from as Record<string, unknown>, to as Record<string, unknown>),
    },
  ];
}

function materialReasons(a: Register, b: Register): string[] {
  const reasons: string[] = [];
  const purposesA = new Map(a.purposes.map((p) => [p.key, p]));
  const recipientsA = new Map(a.recipients.map((r) => [r.key, r]));
  const rulesA = new Map(a.retention.rules.map((r) => [r.key, r]));
  const rulesB = new Map(b.retention.rules.map((r) => [r.key, r]));
  const categoriesA = new Set(a.categories.map((c) => c.key));

  for (const c of b.categories)
    if (!categoriesA.has(c.key)) reasons.push(`new data category ${c.key}`);

  const bases = (p: Purpose) => ({
    legalBasis: p.legalBasis,
    basisCondition: p.basisCondition,
    additionalBases: p.additionalBases,
  });
  for (const p of b.purposes) {
    const old = purposesA.get(p.key);
    if (!old) {
      reasons.push(`new purpose ${p.key} (${p.name})`);
      continue;
    }
    if (!same(bases(old), bases(p)))
      reasons.push(
        `purpose ${p.key} changes its legal basis (${old.legalBasis} to ${p.legalBasis})`,
      );
    for (const c of p.categories)
      if (!old.categories.includes(c)) reasons.push(`purpose ${p.key} now uses category ${c}`);
    for (const r of p.recipients)
      if (!old.recipients.includes(r)) reasons.push(`purpose ${p.key} now shares data with ${r}`);
    const ruleA = old.retention ? rulesA.get(old.retention) : undefined;
    const ruleB = p.retention ? rulesB.get(p.retention) : undefined;
    if (ruleA && ruleB && ruleA.key !== ruleB.key && longer(ruleA, ruleB))
      reasons.push(`purpose ${p.key} is kept longer (rule ${ruleB.key})`);
  }

  const transfers = (r: Recipient) => r.countries.filter(outsideEea);
  for (const r of b.recipients) {
    const old = recipientsA.get(r.key);
    if (!old) {
      reasons.push(`new recipient ${r.key} (${r.name})`);
      if (transfers(r).length > 0)
        reasons.push(`new transfer outside the EEA to ${r.key} (${transfers(r).join(', ')})`);
      continue;
    }
    const added = transfers(r).filter((c) => !transfers(old).includes(c));
    if (added.length > 0)
      reasons.push(`new transfer outside the EEA to ${r.key} (${added.join(', ')})`);
    if (old.safeguard !== r.safeguard && transfers(r).length > 0)
      reasons.push(`recipient ${r.key} changes its transfer safeguard`);
    for (const c of r.categories)
      if (!old.categories.includes(c)) reasons.push(`recipient ${r.key} now receives ${c}`);
  }

  for (const rule of b.retention.rules) {
    const old = rulesA.get(rule.key);
    if (old && longer(old, rule)) reasons.push(`retention rule ${rule.key} keeps data longer`);
  }
  const keepsA = new Map(a.retention.statutoryKeeps.map((k) => [k.key, k]));
  for (const keep of b.retention.statutoryKeeps) {
    const old = keepsA.get(keep.key);
    if (!old) reasons.push(`new statutory keep ${keep.key}`);
    else if (longer(old, keep)) reasons.push(`statutory keep ${keep.key} keeps data longer`);
  }
  const longerOptional = (x?: { duration: string }, y?: { duration: string }) =>
    y !== undefined && (x === undefined || compareDurations(y.duration, x.duration) > 0);
  if (a.retention.auditLog && longerOptional(a.retention.auditLog, b.retention.auditLog))
    reasons.push('audit logs are kept longer');
  if (a.retention.backups && longerOptional(a.retention.backups, b.retention.backups))
    reasons.push('backups are kept longer');
  return reasons;
}

/** Longer, or a different trigger (which can only be judged by a person, so it counts). */
function longer(
  a: Pick<RetentionRule, 'duration' | 'trigger'>,
  b: Pick<RetentionRule, 'duration' | 'trigger'>,
): boolean {
  return compareDurations(b.duration, a.duration) > 0 || a.trigger !== b.trigger;
}

const show = (value: unknown) => (value === undefined ? '(none)' : JSON.stringify(value));

export function diffRegisters(a: Register, b: Register): RegisterDiff {
  const changes = [
    ...single('policy', a.policy, b.policy),
    ...single('organisation', a.organisation, b.organisation),
    ...keyed('subjects', a.subjects, b.subjects, (s) => s.key),
    ...keyed('categories', a.categories, b.categories, (c) => c.key),
    ...keyed('purposes', a.purposes, b.purposes, (p) => p.key),
    ...keyed('recipients', a.recipients, b.recipients, (r) => r.key),
    ...keyed('storage', a.storage, b.storage, (s) => s.key),
    ...keyed('cookies', a.cookies, b.cookies, (c) => c.name),
    ...single('cookieConsent', a.cookieConsent, b.cookieConsent),
    ...keyed('retention.rules', a.retention.rules, b.retention.rules, (r) => r.key),
    ...keyed(
      'retention.statutoryKeeps',
      a.retention.statutoryKeeps,
      b.retention.statutoryKeeps,
      (k) => k.key,
    ),
    ...single('retention.auditLog', a.retention.auditLog, b.retention.auditLog),
    ...single('retention.backups', a.retention.backups, b.retention.backups),
    ...single('rights', a.rights, b.rights),
    ...single('security', a.security, b.security),
  ];
  const reasons = materialReasons(a, b);
  const lines: string[] = [];
  for (const change of changes) {
    const name = change.section === change.key ? change.section : `${change.section}.${change.key}`;
    if (change.kind === 'added') lines.push(`+ ${name}`);
    else if (change.kind === 'removed') lines.push(`- ${name}`);
    else
      for (const f of change.fields)
        lines.push(`~ ${name}.${f.field}: ${show(f.from)} -> ${show(f.to)}`);
  }
  if (lines.length === 0) lines.push('No changes.');
  lines.push(
    '',
    reasons.length > 0
      ? `Material change: yes\n${reasons.map((r) => `  * ${r}`).join('\n')}`
      : 'Material change: no',
  );
  return { changes, material: reasons.length > 0, reasons, text: lines.join('\n') };
}
