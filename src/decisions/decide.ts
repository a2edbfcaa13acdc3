import { addDuration, type Duration, parseDuration } from '../register/duration.js';
import type {
  LegalBasis,
  Purpose,
  Register,
  RetentionRule,
  RetentionTrigger,
} from '../register/register-schema.js';

/**
 * "May purpose P use categories C of subject S?" as a pure function of the
 * register and the subject's state. No database, no clock of its own: the same
 * inputs give the same answer, which is what makes it testable and batchable.
 */
export const decisionReasons = [
  'no_legal_basis',
  'category_not_in_purpose',
  'consent_missing',
  'consent_withdrawn',
  'objected',
  'restricted',
  'retention_expired',
  'erased',
  'subject_unknown',
  'contract_ended',
  'purpose_fulfilled',
] as const;
export type DecisionReason = (typeof decisionReasons)[number];

export type SubjectStatus = 'active' | 'merged' | 'pseudonymized' | 'erased';

/** What decisions need to know about a subject; nothing here identifies the person. */
export type SubjectFacts = {
  id: string;
  kind: string;
  status: SubjectStatus;
  retainedCategories: string[] | null;
  restrictedAt: Date | null;
  lastActivityAt: Date | null;
  relationshipStartedAt: Date | null;
  relationshipEndedAt: Date | null;
  contractEndedAt: Date | null;
  roleEndedAt: Date | null;
  accountDeletedAt: Date | null;
};

export type ConsentState = 'given' | 'withdrawn' | 'refused' | 'expired';

/** One row of subject_purpose_state: written by the consent ledger, rights requests and the vault. */
export type PurposeState = {
  consent: ConsentState | null;
  consentAt: Date | null;
  objectedAt: Date | null;
  restrictedAt: Date | null;
  /** The purpose has done its work for this subject: it may no longer use the data. */
  fulfilledAt: Date | null;
};

export type SubjectState = {
  subject: SubjectFacts | null;
  purpose: PurposeState | null;
  /** The latest collected-at per record category, for `collected` retention triggers. */
  lastCollected: Record<string, Date>;
};

export type CategoryDecision = { category: string; allowed: boolean; reasons: DecisionReason[] };

export type Decision = {
  subjectId: string;
  purpose: string;
  allowed: boolean;
  reasons: DecisionReason[];
  categories: CategoryDecision[];
  legalBasis: LegalBasis | null;
  registerVersion: string | null;
};

/** A retention rule as one purpose's category meets it: its duration parsed, its triggers listed. */
export type ApplicableRetention = { duration: Duration; triggers: RetentionTrigger[] };

/** What the register says of one category under one purpose, the same for every subject. */
export type PurposeCategory = {
  /** The purpose names the category, or a parent of it in the taxonomy. */
  inPurpose: boolean;
  retention: ApplicableRetention[];
};

/** A register prepared for many decisions: lookups by key, parents resolved once. */
export type Policy = {
  version: string | null;
  register: Register | null;
  purposes: Map<string, Purpose>;
  categoryKeys: Set<string>;
  categoryParent: (key: string) => string | null;
  subjectParent: (key: string) => string | null;
  rules: RetentionRule[];
  /** Worked out once per purpose and category, then remembered with the policy. */
  purposeCategory: (purpose: Purpose, category: string) => PurposeCategory;
};

/** Enough for every purpose and category of a large register; callers may ask for others. */
const purposeCategoryMemoLimit = 10_000;

const dottedParent = (key: string): string | null => {
  const at = key.lastIndexOf('.');
  return at > 0 ? key.slice(0, at) : null;
};

export function compilePolicy(register: Register | null, version: string | null): Policy {
  const customCategoryParent = new Map(
    (register?.categories ?? []).filter((c) => c.parent).map((c) => [c.key, c.parent as string]),
  );
  const customSubjectParent = new Map(
    (register?.subjects ?? []).filter((s) => s.parent).map((s) => [s.key, s.parent as string]),
  );
  const memo = new Map<string, PurposeCategory>();
  const policy: Policy = {
    version,
    register,
    purposes: new Map((register?.purposes ?? []).map((p) => [p.key, p])),
    categoryKeys: new Set((register?.categories ?? []).map((c) => c.key)),
    categoryParent: (key) => customCategoryParent.get(key) ?? dottedParent(key),
    subjectParent: (key) => customSubjectParent.get(key) ?? dottedParent(key),
    rules: register?.retention.rules ?? [],
    purposeCategory: (purpose, category) => {
      const memoKey = `${purpose.key}\u0000${category}`;
      let known = memo.get(memoKey);
      if (!known) {
        if (memo.size >= purposeCategoryMemoLimit) memo.clear();
        known = {
          inPurpose: coveredBy(category, purpose.categories, policy.categoryParent),
          retention: policy.rules
            .filter((rule) => ruleApplies(rule, purpose, category, policy))
            .flatMap((rule) => {
              const duration = parseDuration(rule.duration);
              return duration
                ? [{ duration, triggers: [rule.trigger, ...rule.earlierTriggers] }]
                : [];
            }),
        };
        memo.set(memoKey, known);
      }
      return known;
    },
  };
  return policy;
}

/** True when `key` is one of `keys` or sits under one of them in the taxonomy. */
export function coveredBy(
  key: string,
  keys: readonly string[],
  parent: (key: string) => string | null,
): boolean {
  const seen = new Set<string>();
  for (let at: string | null = key; at !== null && !seen.has(at); at = parent(at)) {
    if (keys.includes(at)) return true;
    seen.add(at);
  }
  return false;
}

function conditionHolds(when: string, s: SubjectFacts, now: Date): boolean {
  const open = (start: Date | null, end: Date | null) =>
    start !== null && start <= now && (end === null || end > now);
  switch (when) {
    case 'customer_relationship':
      return open(s.relationshipStartedAt, s.relationshipEndedAt);
    case 'contract_active':
      return open(s.relationshipStartedAt, s.contractEndedAt ?? s.relationshipEndedAt);
    case 'role_held':
      return s.roleEndedAt === null || s.roleEndedAt > now;
    default:
      return false;
  }
}

/** The basis that applies now: the main one, or its fallback when its condition does not hold. */
export function effectiveBasis(purpose: Purpose, subject: SubjectFacts, now: Date): LegalBasis {
  if (!purpose.basisCondition) return purpose.legalBasis;
  return conditionHolds(purpose.basisCondition.when, subject, now)
    ? purpose.legalBasis
    : purpose.basisCondition.otherwise;
}

function triggerTime(
  trigger: RetentionTrigger,
  category: string,
  policy: Policy,
  state: SubjectState,
): Date | null {
  const s = state.subject;
  if (!s) return null;
  switch (trigger) {
    case 'collected': {
      let latest: Date | null = null;
      for (const [recorded, at] of Object.entries(state.lastCollected)) {
        if (recorded === category || coveredBy(recorded, [category], policy.categoryParent)) {
          if (latest === null || at > latest) latest = at;
        }
      }
      return latest;
    }
    case 'last_activity':
      return s.lastActivityAt;
    case 'contract_end':
      return s.contractEndedAt ?? s.relationshipEndedAt;
    case 'relationship_end':
      return s.relationshipEndedAt;
    case 'role_ended':
      return s.roleEndedAt;
    case 'account_deleted':
      return s.accountDeletedAt;
    case 'consent_withdrawn':
      return state.purpose?.consent === 'withdrawn' ? state.purpose.consentAt : null;
    case 'objection':
      return state.purpose?.objectedAt ?? null;
    case 'purpose_fulfilled':
      return state.purpose?.fulfilledAt ?? null;
  }
}

function ruleApplies(
  rule: RetentionRule,
  purpose: Purpose,
  category: string,
  policy: Policy,
): boolean {
  const named = rule.key === purpose.retention;
  const purposeOk =
    named ||
    (rule.purposes.length > 0 ? rule.purposes.includes(purpose.key) : rule.categories.length > 0);
  const categoryOk =
    rule.categories.length === 0 || coveredBy(category, rule.categories, policy.categoryParent);
  return purposeOk && categoryOk;
}

function retentionExpired(
  retention: ApplicableRetention[],
  category: string,
  policy: Policy,
  state: SubjectState,
  now: Date,
): boolean {
  for (const { duration, triggers } of retention) {
    for (const trigger of triggers) {
      const at = triggerTime(trigger, category, policy, state);
      if (at && addDuration(at, duration) <= now) return true;
    }
  }
  return false;
}

// Art. 18(2): restricted data may still be stored and used for legal claims or
// obligations; a legal obligation or vital interest purpose is not stopped.
const survivesRestriction = (basis: LegalBasis, purpose: Purpose) =>
  basis === 'legal_obligation' ||
  basis === 'vital_interests' ||
  purpose.uses.some((u) => u.startsWith('essential.legal'));

// Art. 21: an objection stops legitimate interest and public task purposes, and
// direct marketing always; the register can mark any other purpose as stopped too.
const objectionStops = (basis: LegalBasis, purpose: Purpose) =>
  purpose.directMarketing ||
  purpose.objectionStops ||
  basis === 'legitimate_interests' ||
  basis === 'public_task' ||
  basis === 'consent';

/** Each purpose's `consent.validFor`, parsed once per compiled register. */
const consentLasts = new WeakMap<Purpose, Duration | null>();

/**
 * Consent past its purpose's validFor no longer counts, from that moment: the
 * hourly `consent.expire` job records the expiry in the ledger afterwards.
 */
function consentLapsed(purpose: Purpose, givenAt: Date | null, now: Date): boolean {
  let lasts = consentLasts.get(purpose);
  if (lasts === undefined) {
    const text = purpose.consent?.validFor;
    lasts = text ? (parseDuration(text) ?? null) : null;
    consentLasts.set(purpose, lasts);
  }
  return lasts !== null && givenAt !== null && addDuration(givenAt, lasts) <= now;
}

export function decide(
  policy: Policy,
  subjectId: string,
  state: SubjectState,
  purposeKey: string,
  categories: readonly string[] | undefined,
  now: Date,
): Decision {
  const purpose = policy.purposes.get(purposeKey);
  const asked =
    categories && categories.length > 0
      ? [...new Set(categories)]
      : [...(purpose?.categories ?? [])];
  const common: DecisionReason[] = [];
  const subject = state.subject;
  let basis: LegalBasis | null = null;

  if (!subject) common.push('subject_unknown');
  else if (subject.status === 'erased' || subject.status === 'merged') common.push('erased');
  if (!purpose) {
    common.push('no_legal_basis');
  } else if (subject && common.length === 0) {
    basis = effectiveBasis(purpose, subject, now);
    if (!coveredBy(subject.kind, purpose.subjects, policy.subjectParent))
      common.push('no_legal_basis');
    if (basis === 'contract') {
      const ended = subject.contractEndedAt ?? subject.relationshipEndedAt;
      if (ended && ended <= now) common.push('contract_ended');
    }
    const ps = state.purpose;
    if (basis === 'consent') {
      if (ps?.consent === 'withdrawn') common.push('consent_withdrawn');
      else if (ps?.consent !== 'given' || consentLapsed(purpose, ps.consentAt, now))
        common.push('consent_missing');
    }
    if (ps?.objectedAt && ps.objectedAt <= now && objectionStops(basis, purpose))
      common.push('objected');
    const restricted =
      (subject.restrictedAt && subject.restrictedAt <= now) ||
      (ps?.restrictedAt && ps.restrictedAt <= now);
    if (restricted && !survivesRestriction(basis, purpose)) common.push('restricted');
    if (ps?.fulfilledAt && ps.fulfilledAt <= now) common.push('purpose_fulfilled');
  }

  const perCategory = asked.map((category): CategoryDecision => {
    const reasons = [...common];
    if (purpose && subject && !reasons.includes('erased')) {
      const known = policy.purposeCategory(purpose, category);
      if (!known.inPurpose) reasons.push('category_not_in_purpose');
      if (
        subject.status === 'pseudonymized' &&
        !coveredBy(category, subject.retainedCategories ?? [], policy.categoryParent)
      ) {
        reasons.push('erased');
      }
      if (retentionExpired(known.retention, category, policy, state, now))
        reasons.push('retention_expired');
    }
    return { category, allowed: reasons.length === 0, reasons };
  });

  const reasons = [...new Set([...common, ...perCategory.flatMap((c) => c.reasons)])];
  return {
    subjectId,
    purpose: purposeKey,
    allowed: reasons.length === 0 && (perCategory.length > 0 || common.length === 0),
    reasons,
    categories: perCategory,
    legalBasis: basis,
    registerVersion: policy.version,
  };
}

/** Whether a decision for this purpose reads record collection times (a `collected` retention trigger applies). */
export function needsCollected(policy: Policy, purposeKey: string): boolean {
  const purpose = policy.purposes.get(purposeKey);
  if (!purpose) return false;
  return policy.rules.some(
    (rule) =>
      (rule.trigger === 'collected' || rule.earlierTriggers.includes('collected')) &&
      (rule.key === purpose.retention ||
        rule.purposes.includes(purpose.key) ||
        rule.categories.length > 0),
  );
}
