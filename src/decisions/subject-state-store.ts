import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import { anyOf, findSubjects, lastCollectedByCategory } from '../vault/vault-store.js';
import type { ConsentState, PurposeState, SubjectFacts, SubjectState } from './decide.js';

/**
 * subject_purpose_state: the current consent, objection, restriction and
 * fulfilment per subject and purpose. The consent ledger (events), the rights
 * requests (objection, restriction) and the vault (a purpose fulfilled) write
 * it in the same transaction as their own events, through `setPurposeState`;
 * decisions only read it.
 */
export type PurposeStateChange = {
  consent?: ConsentState | null;
  consentAt?: Date | null;
  consentRegisterVersion?: string | null;
  objectedAt?: Date | null;
  objectionSource?: string | null;
  restrictedAt?: Date | null;
  restrictionGround?: string | null;
  fulfilledAt?: Date | null;
};

export type StoredPurposeState = PurposeState & {
  subjectId: string;
  purpose: string;
  consentRegisterVersion: string | null;
  objectionSource: string | null;
  restrictionGround: string | null;
  updatedAt: Date;
};

const columns = [
  'subjectId',
  'purpose',
  'consent',
  'consentAt',
  'consentRegisterVersion',
  'objectedAt',
  'objectionSource',
  'restrictedAt',
  'restrictionGround',
  'fulfilledAt',
  'updatedAt',
] as const;

/** Upserts the fields given; fields left out keep their value. */
export async function setPurposeState(
  db: Db,
  tenantId: string,
  subjectId: string,
  purpose: string,
  change: PurposeStateChange,
  at: Date,
): Promise<StoredPurposeState> {
  return db
    .insertInto('subjectPurposeState')
    .values({ tenantId, subjectId, purpose, ...change, updatedAt: at })
    .onConflict((oc) =>
      oc.columns(['tenantId', 'subjectId', 'purpose']).doUpdateSet({ ...change, updatedAt: at }),
    )
    .returning(columns)
    .executeTakeFirstOrThrow();
}

/**
 * Records an objection unless one is on record already: the earlier one, with
 * its time and source (a rights request, say), stands.
 */
export async function addObjection(
  db: Db,
  tenantId: string,
  subjectId: string,
  purpose: string,
  objection: { objectedAt: Date; source: string },
  at: Date,
): Promise<void> {
  const change = {
    objectedAt: objection.objectedAt,
    objectionSource: objection.source,
    updatedAt: at,
  };
  await db
    .insertInto('subjectPurposeState')
    .values({ tenantId, subjectId, purpose, ...change })
    .onConflict((oc) =>
      oc
        .columns(['tenantId', 'subjectId', 'purpose'])
        .doUpdateSet(change)
        .where('subjectPurposeState.objectedAt', 'is', null),
    )
    .execute();
}

/**
 * Takes back an objection whose source starts with `sourcePrefix`; an
 * objection from anywhere else (a rights request) stays.
 */
export async function liftObjection(
  db: Db,
  tenantId: string,
  subjectId: string,
  purpose: string,
  sourcePrefix: string,
  at: Date,
): Promise<void> {
  await db
    .updateTable('subjectPurposeState')
    .set({ objectedAt: null, objectionSource: null, updatedAt: at })
    .where('tenantId', '=', tenantId)
    .where('subjectId', '=', subjectId)
    .where('purpose', '=', purpose)
    .where('objectionSource', 'like', `${sourcePrefix}%`)
    .execute();
}

/**
 * A purpose's state after `from` was merged into `into` (either may have none).
 * Consent is the ledger's consent that won the merge when there is one (its
 * state for the purpose as a whole), else the later consent time. Objections
 * and restrictions are never dropped: of two objections the one a later
 * "given" cannot lift stays (a rights request's, not the ledger's own), else
 * the earlier; of two restrictions the earlier. A fulfilment stands unless
 * the consent that won was given after it (consent given again starts the
 * purpose again).
 */
export function mergedPurposeState(
  into: StoredPurposeState | undefined,
  from: StoredPurposeState | undefined,
  ledger:
    | { consent: ConsentState | null; consentAt: Date | null; registerVersion: string | null }
    | undefined,
): PurposeStateChange {
  const time = (at: Date | null | undefined) => at?.getTime() ?? Number.NEGATIVE_INFINITY;
  const sides = [into, from].filter((s): s is StoredPurposeState => s !== undefined);
  const later = from && (!into || time(from.consentAt) > time(into.consentAt)) ? from : into;
  const consent = ledger
    ? {
        consent: ledger.consent,
        consentAt: ledger.consentAt,
        consentRegisterVersion: ledger.registerVersion,
      }
    : {
        consent: later?.consent ?? null,
        consentAt: later?.consentAt ?? null,
        consentRegisterVersion: later?.consentRegisterVersion ?? null,
      };
  const liftable = (s: StoredPurposeState) => (s.objectionSource?.startsWith('consent:') ? 1 : 0);
  const [objection] = sides
    .filter((s) => s.objectedAt)
    .sort((x, y) => liftable(x) - liftable(y) || time(x.objectedAt) - time(y.objectedAt));
  const [restriction] = sides
    .filter((s) => s.restrictedAt)
    .sort((x, y) => time(x.restrictedAt) - time(y.restrictedAt));
  const fulfilled = sides
    .map((s) => s.fulfilledAt)
    .filter((at): at is Date => at !== null)
    .sort((x, y) => y.getTime() - x.getTime())[0];
  const startedAgain =
    fulfilled !== undefined &&
    consent.consent === 'given' &&
    time(consent.consentAt) > fulfilled.getTime();
  return {
    ...consent,
    objectedAt: objection?.objectedAt ?? null,
    objectionSource: objection?.objectionSource ?? null,
    restrictedAt: restriction?.restrictedAt ?? null,
    restrictionGround: restriction?.restrictionGround ?? null,
    fulfilledAt: fulfilled && !startedAgain ? fulfilled : null,
  };
}

/** Takes a purpose's fulfilment back; a purpose with no state row keeps having none. */
export async function clearFulfilment(
  db: Db,
  tenantId: string,
  subjectId: string,
  purpose: string,
  at: Date,
): Promise<void> {
  await db
    .updateTable('subjectPurposeState')
    .set({ fulfilledAt: null, updatedAt: at })
    .where('tenantId', '=', tenantId)
    .where('subjectId', '=', subjectId)
    .where('purpose', '=', purpose)
    .where('fulfilledAt', 'is not', null)
    .execute();
}

export async function listPurposeStates(
  db: Db,
  tenantId: string,
  subjectId: string,
): Promise<StoredPurposeState[]> {
  return db
    .selectFrom('subjectPurposeState')
    .select(columns)
    .where('tenantId', '=', tenantId)
    .where('subjectId', '=', subjectId)
    .orderBy('purpose')
    .execute();
}

export async function deletePurposeStates(
  db: Db,
  tenantId: string,
  subjectId: string,
): Promise<void> {
  await db
    .deleteFrom('subjectPurposeState')
    .where('tenantId', '=', tenantId)
    .where('subjectId', '=', subjectId)
    .execute();
}

/**
 * Everything decisions need for many subjects and one purpose, in three
 * statements whatever the number of subjects (one array parameter each).
 */
export async function loadSubjectStates(
  db: Db,
  tenantId: string,
  subjectIds: readonly string[],
  purpose: string,
  options: { collected?: boolean } = {},
): Promise<Map<string, SubjectState>> {
  const unique = [...new Set(subjectIds)];
  if (unique.length === 1)
    return loadOne(db, tenantId, unique[0] as string, purpose, options.collected !== false);
  const [subjects, states, collected] = await Promise.all([
    findSubjects(db, tenantId, unique),
    unique.length === 0
      ? Promise.resolve([])
      : db
          .selectFrom('subjectPurposeState')
          .select([
            'subjectId',
            'consent',
            'consentAt',
            'objectedAt',
            'restrictedAt',
            'fulfilledAt',
          ])
          .where('tenantId', '=', tenantId)
          .where('purpose', '=', purpose)
          .where('subjectId', '=', anyOf(unique))
          .execute(),
    options.collected === false
      ? Promise.resolve(new Map<string, Record<string, Date>>())
      : lastCollectedByCategory(db, tenantId, unique),
  ]);
  const byId = new Map(states.map((s) => [s.subjectId, s]));
  const out = new Map<string, SubjectState>();
  for (const subject of subjects) {
    const state = byId.get(subject.id);
    out.set(subject.id, {
      subject,
      purpose: state
        ? {
            consent: state.consent,
            consentAt: state.consentAt,
            objectedAt: state.objectedAt,
            restrictedAt: state.restrictedAt,
            fulfilledAt: state.fulfilledAt,
          }
        : null,
      lastCollected: collected.get(subject.id) ?? {},
    });
  }
  return out;
}

/** One subject's state for one purpose, as a single decision reads it (undefined: no such subject). */
export async function loadSubjectState(
  db: Db,
  key: { tenantId: string; subjectId: string; purpose: string; collected: boolean },
): Promise<SubjectState | undefined> {
  const states = await loadOne(db, key.tenantId, key.subjectId, key.purpose, key.collected);
  return states.get(key.subjectId);
}

/**
 * One subject: a single statement, with the latest collection time per
 * category folded in when `collected` retention triggers need it. Decisions run
 * on every send and page view; each round trip to the database counts.
 */
async function loadOne(
  db: Db,
  tenantId: string,
  subjectId: string,
  purpose: string,
  collected: boolean,
): Promise<Map<string, SubjectState>> {
  const row = await db
    .selectFrom('subjects as s')
    .leftJoin('subjectPurposeState as p', (join) =>
      join
        .onRef('p.tenantId', '=', 's.tenantId')
        .onRef('p.subjectId', '=', 's.id')
        .on('p.purpose', '=', purpose),
    )
    .select([
      's.id',
      's.kind',
      's.status',
      's.retainedCategories',
      's.restrictedAt',
      's.lastActivityAt',
      's.relationshipStartedAt',
      's.relationshipEndedAt',
      's.contractEndedAt',
      's.roleEndedAt',
      's.accountDeletedAt',
      'p.consent',
      'p.consentAt',
      'p.objectedAt',
      'p.restrictedAt as purposeRestrictedAt',
      'p.fulfilledAt',
      'p.purpose',
      (collected
        ? sql<Record<string, string> | null>`(select json_object_agg(c.category, c.latest)
            from (select r.category, max(r.collected_at) as latest from vault_records r
                  where r.tenant_id = s.tenant_id and r.subject_id = s.id group by r.category) c)`
        : sql<Record<string, string> | null>`null`
      ).as('lastCollected'),
    ])
    .where('s.tenantId', '=', tenantId)
    .where('s.id', '=', subjectId)
    .executeTakeFirst();
  const out = new Map<string, SubjectState>();
  if (!row) return out;
  const {
    consent,
    consentAt,
    objectedAt,
    purposeRestrictedAt,
    fulfilledAt,
    purpose: statePurpose,
    lastCollected,
    ...subject
  } = row;
  out.set(subjectId, {
    subject: { ...subject, status: subject.status as SubjectFacts['status'] },
    purpose: statePurpose
      ? { consent, consentAt, objectedAt, restrictedAt: purposeRestrictedAt, fulfilledAt }
      : null,
    lastCollected: Object.fromEntries(
      Object.entries(lastCollected ?? {}).map(([category, at]) => [category, new Date(at)]),
    ),
  });
  return out;
}
