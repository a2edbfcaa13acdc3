import type { Selectable, Updateable } from 'kysely';
import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import type { RightsRequestEventRow, RightsRequestRow } from '../db/schema.js';
import { openStatuses, type RequestStatus, type RequestType } from './requests-model.js';

/** The requester entered the code, and an operator is to verify the identity by another method. */
const emailConfirmed = sql<boolean>`(details->>'emailConfirmed')::boolean is true`;

export type StoredRequest = {
  tenantId: string;
  id: string;
  type: RequestType;
  status: RequestStatus;
  channel: 'public' | 'api';
  verificationMethod: string | null;
  subjectId: string | null;
  identityIndex: Buffer;
  sealed: Buffer;
  details: Record<string, unknown>;
  registerVersion: string | null;
  deadline: string;
  receivedAt: Date;
  verifiedAt: Date | null;
  dueAt: Date;
  pausedAt: Date | null;
  pausedDays: number;
  extension: string | null;
  extensionReason: string | null;
  extendedAt: Date | null;
  completedAt: Date | null;
  statusReason: string | null;
  outcome: Record<string, unknown> | null;
  receipt: Record<string, unknown> | null;
  remindedAt: Date | null;
  forwardedAt: Date | null;
  controllerAnswer: Record<string, unknown> | null;
  codeHash: Buffer | null;
  codeExpiresAt: Date | null;
  codeAttempts: number;
  createdAt: Date;
  updatedAt: Date;
};

export type TimelineEntry = {
  seq: number;
  at: Date;
  kind: 'status' | 'step' | 'mail' | 'note';
  fromStatus: RequestStatus | null;
  toStatus: RequestStatus | null;
  actor: string;
  message: string;
};

const toRequest = (row: Selectable<RightsRequestRow>): StoredRequest =>
  row as unknown as StoredRequest;

const json = (value: unknown): string => JSON.stringify(value);

export async function insertRequest(
  db: Db,
  request: Omit<StoredRequest, 'createdAt' | 'updatedAt' | 'codeAttempts' | 'pausedDays'>,
): Promise<StoredRequest> {
  const row = await db
    .insertInto('rightsRequests')
    .values({
      ...request,
      details: json(request.details),
      outcome: json(request.outcome),
      receipt: json(request.receipt),
      controllerAnswer: json(request.controllerAnswer),
      updatedAt: request.receivedAt,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toRequest(row);
}

export async function findRequest(
  db: Db,
  tenantId: string,
  id: string,
  options: { forUpdate?: boolean } = {},
): Promise<StoredRequest | undefined> {
  let query = db
    .selectFrom('rightsRequests')
    .selectAll()
    .where('tenantId', '=', tenantId)
    .where('id', '=', id);
  if (options.forUpdate) query = query.forUpdate();
  const row = await query.executeTakeFirst();
  return row && toRequest(row);
}

export type RequestChanges = Partial<
  Omit<
    StoredRequest,
    'tenantId' | 'id' | 'createdAt' | 'outcome' | 'receipt' | 'controllerAnswer' | 'details'
  >
> & {
  outcome?: Record<string, unknown> | null;
  receipt?: Record<string, unknown> | null;
  controllerAnswer?: Record<string, unknown> | null;
  details?: Record<string, unknown>;
};

export async function updateRequest(
  db: Db,
  tenantId: string,
  id: string,
  changes: RequestChanges,
  at: Date,
): Promise<StoredRequest> {
  const { outcome, receipt, controllerAnswer, details, ...rest } = changes;
  const set: Updateable<RightsRequestRow> = { ...rest, updatedAt: at };
  if (outcome !== undefined) set.outcome = json(outcome);
  if (receipt !== undefined) set.receipt = json(receipt);
  if (controllerAnswer !== undefined) set.controllerAnswer = json(controllerAnswer);
  if (details !== undefined) set.details = json(details);
  const row = await db
    .updateTable('rightsRequests')
    .set(set)
    .where('tenantId', '=', tenantId)
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
  return toRequest(row);
}

/** An open request of the same type for the same identity, if any. */
export async function findOpenDuplicate(
  db: Db,
  tenantId: string,
  identityIndex: Buffer,
  type: RequestType,
): Promise<StoredRequest | undefined> {
  const row = await db
    .selectFrom('rightsRequests')
    .selectAll()
    .where('tenantId', '=', tenantId)
    .where('identityIndex', '=', identityIndex)
    .where('type', '=', type)
    .where('status', 'in', openStatuses)
    .executeTakeFirst();
  return row && toRequest(row);
}

/**
 * Another open request of the same type for the same identity whose requester
 * has shown the address is theirs: verified or further on, or its e-mail
 * confirmed while an operator verifies the identity. Unconfirmed ones
 * (anyone can file for any address) do not count.
 */
export async function findConfirmedDuplicate(
  db: Db,
  request: StoredRequest,
): Promise<StoredRequest | undefined> {
  const row = await db
    .selectFrom('rightsRequests')
    .selectAll()
    .where('tenantId', '=', request.tenantId)
    .where('identityIndex', '=', request.identityIndex)
    .where('type', '=', request.type)
    .where('id', '!=', request.id)
    .where((eb) =>
      eb.or([
        eb('status', 'in', ['verified', 'in_progress', 'awaiting_requester', 'forwarded']),
        eb.and([eb('status', '=', 'identity_pending'), emailConfirmed]),
      ]),
    )
    .orderBy('receivedAt')
    .executeTakeFirst();
  return row && toRequest(row);
}

/** A restriction request in force on a subject: what the subject's restriction shows while it holds. */
export type RestrictionInForce = { id: string; ground: string; completedAt: Date };

/**
 * The restriction requests other than `exceptId` whose restriction landed on
 * one of the subjects and is still in force: fulfilled (completed or partially
 * completed) and not lifted. The earliest fulfilled first.
 */
export async function listRestrictionsInForce(
  db: Db,
  tenantId: string,
  subjectIds: readonly string[],
  exceptId: string,
): Promise<RestrictionInForce[]> {
  const rows = await db
    .selectFrom('rightsRequests')
    .select(['id', 'completedAt', sql<string>`details->>'ground'`.as('ground')])
    .where('tenantId', '=', tenantId)
    .where('type', '=', 'restriction')
    .where('status', 'in', ['completed', 'partially_completed'])
    .where('subjectId', 'in', subjectIds)
    .where('id', '!=', exceptId)
    .where(sql<boolean>`details->>'liftedAt' is null`)
    .orderBy('completedAt')
    .orderBy('id')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    ground: r.ground ?? '',
    completedAt: r.completedAt ?? new Date(0),
  }));
}

export type RequestFilter = {
  status?: RequestStatus[] | undefined;
  type?: RequestType | undefined;
  overdue?: boolean | undefined;
  subjectId?: string | undefined;
  sort?: 'due' | 'received' | undefined;
  after?: string | undefined;
  limit: number;
};

/**
 * Requests of a tenant. Sorted by due date (soonest, overdue first) or by
 * receipt; `after` is the last id of the previous page, and for the due-date
 * order the cursor is resolved to its (due, id) position.
 */
export async function listRequests(
  db: Db,
  tenantId: string,
  filter: RequestFilter,
  at: Date,
): Promise<StoredRequest[]> {
  let query = db.selectFrom('rightsRequests').selectAll().where('tenantId', '=', tenantId);
  if (filter.status && filter.status.length > 0) query = query.where('status', 'in', filter.status);
  if (filter.type) query = query.where('type', '=', filter.type);
  if (filter.subjectId) query = query.where('subjectId', '=', filter.subjectId);
  // Overdue: open, its clock running (not paused), past its due time.
  if (filter.overdue === true)
    query = query
      .where('status', 'in', openStatuses)
      .where('pausedAt', 'is', null)
      .where('dueAt', '<', at);
  if (filter.overdue === false)
    query = query.where((eb) =>
      eb.or([
        eb('status', 'not in', openStatuses),
        eb('pausedAt', 'is not', null),
        eb('dueAt', '>=', at),
      ]),
    );
  if (filter.sort === 'due') {
    if (filter.after) {
      const cursor = await findRequest(db, tenantId, filter.after);
      if (cursor) {
        query = query.where((eb) =>
          eb.or([
            eb('dueAt', '>', cursor.dueAt),
            eb.and([eb('dueAt', '=', cursor.dueAt), eb('id', '>', cursor.id)]),
          ]),
        );
      }
    }
    query = query.orderBy('dueAt').orderBy('id');
  } else {
    if (filter.after) query = query.where('id', '>', filter.after);
    query = query.orderBy('id');
  }
  return (await query.limit(filter.limit).execute()).map(toRequest);
}

/** Requests in one status whose time has come (for the scheduled jobs). */
/**
 * Requests, across tenants (for the system's jobs), still waiting for their
 * code past their deadline: the e-mail never confirmed. Earliest first.
 */
export async function listUnconfirmedPastDue(
  db: Db,
  at: Date,
  limit = 500,
): Promise<StoredRequest[]> {
  return (
    await db
      .selectFrom('rightsRequests')
      .selectAll()
      .where('status', '=', 'identity_pending')
      .where((eb) => eb.not(emailConfirmed))
      .where('dueAt', '<', at)
      .orderBy('dueAt')
      .limit(limit)
      .execute()
  ).map(toRequest);
}

/**
 * Requests, across tenants (for the system's jobs), on the operators' side
 * (verified, in progress, forwarded, or identity_pending with the e-mail
 * confirmed while an operator verifies) that need a reminder at `at`: due
 * within `before` and not reminded since that window opened, or overdue and
 * not reminded since the due time. A deadline that moves (an extension, a
 * pause) opens a new window. Earliest due first.
 */
export async function listNeedingReminder(
  db: Db,
  at: Date,
  before: number,
  limit = 500,
): Promise<StoredRequest[]> {
  const windowOpens = sql`due_at - make_interval(secs => ${before / 1000})`;
  return (
    await db
      .selectFrom('rightsRequests')
      .selectAll()
      .where((eb) =>
        eb.or([
          eb('status', 'in', ['verified', 'in_progress', 'forwarded']),
          eb.and([eb('status', '=', 'identity_pending'), emailConfirmed]),
        ]),
      )
      .where(sql<boolean>`${windowOpens} <= ${at}`)
      .where(
        sql<boolean>`(reminded_at is null or reminded_at < case when due_at < ${at} then due_at else ${windowOpens} end)`,
      )
      .orderBy('dueAt')
      .limit(limit)
      .execute()
  ).map(toRequest);
}

export async function appendTimeline(
  db: Db,
  tenantId: string,
  requestId: string,
  entry: Omit<TimelineEntry, 'seq'>,
): Promise<void> {
  await db
    .insertInto('rightsRequestEvents')
    .values({
      tenantId,
      requestId,
      seq: sql<number>`(select coalesce(max(seq), 0) + 1 from rights_request_events where tenant_id = ${tenantId} and request_id = ${requestId})`,
      ...entry,
    })
    .execute();
}

export async function listTimeline(
  db: Db,
  tenantId: string,
  requestId: string,
): Promise<TimelineEntry[]> {
  const rows: Selectable<RightsRequestEventRow>[] = await db
    .selectFrom('rightsRequestEvents')
    .selectAll()
    .where('tenantId', '=', tenantId)
    .where('requestId', '=', requestId)
    .orderBy('seq')
    .execute();
  return rows.map((r) => ({
    seq: r.seq,
    at: r.at,
    kind: r.kind as TimelineEntry['kind'],
    fromStatus: r.fromStatus as RequestStatus | null,
    toStatus: r.toStatus as RequestStatus | null,
    actor: r.actor,
    message: r.message,
  }));
}

export async function insertDownload(
  db: Db,
  row: {
    tenantId: string;
    tokenHash: Buffer;
    requestId: string;
    sealed: Buffer;
    bytes: number;
    expiresAt: Date;
  },
): Promise<void> {
  await db.insertInto('rightsRequestDownloads').values(row).execute();
}

/**
 * Takes a download once: the row is locked, its content returned and removed
 * in the same statement's transaction, so a second use finds nothing.
 */
export async function takeDownload(
  db: Db,
  tenantId: string,
  tokenHash: Buffer,
  at: Date,
): Promise<
  | { requestId: string; sealed: Buffer | null; expiresAt: Date; downloadedAt: Date | null }
  | undefined
> {
  const row = await db
    .selectFrom('rightsRequestDownloads')
    .select(['requestId', 'sealed', 'expiresAt', 'downloadedAt'])
    .where('tenantId', '=', tenantId)
    .where('tokenHash', '=', tokenHash)
    .forUpdate()
    .executeTakeFirst();
  if (!row) return undefined;
  if (row.sealed && !row.downloadedAt && row.expiresAt > at) {
    await db
      .updateTable('rightsRequestDownloads')
      .set({ sealed: null, downloadedAt: at })
      .where('tenantId', '=', tenantId)
      .where('tokenHash', '=', tokenHash)
      .execute();
  }
  return row;
}

export type ControllerRoute = {
  tenantId: string;
  webhookUrl: string | null;
  sealedSecret: Buffer | null;
  email: string | null;
  updatedAt: Date;
};

export async function findControllerRoute(
  db: Db,
  tenantId: string,
): Promise<ControllerRoute | undefined> {
  return db
    .selectFrom('controllerRoutes')
    .selectAll()
    .where('tenantId', '=', tenantId)
    .executeTakeFirst();
}

export async function upsertControllerRoute(
  db: Db,
  route: ControllerRoute,
): Promise<ControllerRoute> {
  const { tenantId, ...rest } = route;
  return db
    .insertInto('controllerRoutes')
    .values(route)
    .onConflict((oc) => oc.column('tenantId').doUpdateSet(rest))
    .returningAll()
    .executeTakeFirstOrThrow();
}
