import { AppError } from '../errors/errors.js';
import {
  addDuration,
  approximateDays,
  type Duration,
  parseDuration,
} from '../register/duration.js';
import { restrictionGrounds } from '../register/register-schema.js';

/**
 * Rights requests: the types a person can file, the states a request moves
 * through and the deadline arithmetic. Pure: no database, no clock of its own.
 */
export const requestTypes = [
  'access',
  'portability',
  'rectification',
  'erasure',
  'restriction',
  'objection',
  'withdraw_consent',
] as const;
export type RequestType = (typeof requestTypes)[number];

/** The register's right that each request type exercises. */
export const rightOfType: Record<RequestType, string> = {
  access: 'access',
  portability: 'portability',
  rectification: 'rectification',
  erasure: 'erasure',
  restriction: 'restriction',
  objection: 'objection',
  withdraw_consent: 'withdraw_consent',
};

export const requestStatuses = [
  'received',
  'identity_pending',
  'verified',
  'in_progress',
  'awaiting_requester',
  'forwarded',
  'completed',
  'partially_completed',
  'rejected',
  'expired',
] as const;
export type RequestStatus = (typeof requestStatuses)[number];

export const openStatuses: RequestStatus[] = [
  'received',
  'identity_pending',
  'verified',
  'in_progress',
  'awaiting_requester',
  'forwarded',
];
export const finalStatuses: RequestStatus[] = [
  'completed',
  'partially_completed',
  'rejected',
  'expired',
];

/** Which state may follow which. Everything else is refused. */
export const transitions: Record<RequestStatus, readonly RequestStatus[]> = {
  received: ['identity_pending', 'verified', 'rejected'],
  identity_pending: ['verified', 'expired', 'rejected'],
  verified: ['in_progress', 'forwarded', 'rejected'],
  in_progress: ['awaiting_requester', 'forwarded', 'completed', 'partially_completed', 'rejected'],
  awaiting_requester: ['in_progress', 'rejected'],
  forwarded: ['in_progress', 'completed', 'partially_completed', 'rejected'],
  completed: [],
  partially_completed: [],
  rejected: [],
  expired: [],
};

/** The states in which the clock stops: Avow waits for the requester. */
export const pausedStatuses: RequestStatus[] = ['identity_pending', 'awaiting_requester'];

export function checkTransition(from: RequestStatus, to: RequestStatus): void {
  const allowed = transitions[from];
  if (!allowed.includes(to)) {
    throw new AppError('conflict', `A request that is ${from} cannot become ${to}`, {
      details: [
        {
          path: 'body.to',
          message:
            allowed.length === 0
              ? `${from} is final; nothing may follow it`
              : `from ${from} the request may become: ${allowed.join(', ')}`,
          from,
          to,
        },
      ],
    });
  }
}

export const restrictionGroundList = restrictionGrounds;

/** The longest extension the GDPR allows (Art. 12(3)): two further months. */
export const maxExtension = 'P2M';

const MS_PER_DAY = 86_400_000;

function mustParse(text: string): Duration {
  const duration = parseDuration(text);
  if (!duration) throw new Error(`not a duration: ${text}`);
  return duration;
}

/** Midnight UTC of the day a time falls on. */
export function startOfDay(at: Date): Date {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()));
}

/**
 * The due date, counted as Regulation 1182/71 counts periods: the day of
 * receipt is not counted; a period of months ends on the same date of the
 * last month, or on that month's last day when it has no such date (a
 * request on 31 January with P1M is due on the last day of February); the
 * period ends at the end of that day. Whole days spent waiting for the
 * requester are added, then one extension if granted.
 */
export function computeDueAt(input: {
  receivedAt: Date;
  deadline: string;
  pausedDays?: number;
  extension?: string | null;
}): Date {
  const base = mustParse(input.deadline);
  // The extension counts from the receipt too: 31 Jan + one month + two months is 30 April.
  const extra = input.extension
    ? mustParse(input.extension)
    : { years: 0, months: 0, weeks: 0, days: 0 };
  const total: Duration = {
    years: base.years + extra.years,
    months: base.months + extra.months,
    weeks: base.weeks + extra.weeks,
    days: base.days + extra.days + (input.pausedDays ?? 0),
  };
  const due = addDuration(startOfDay(input.receivedAt), total);
  return new Date(due.getTime() + MS_PER_DAY - 1);
}

/** The calendar date (UTC) a request is due on. */
export const dueDateOf = (dueAt: Date): string => dueAt.toISOString().slice(0, 10);

/** Whole days between two times (rounded down): a pause of a few minutes does not move the deadline. */
export function wholeDays(from: Date, to: Date): number {
  return Math.max(0, Math.floor((to.getTime() - from.getTime()) / MS_PER_DAY));
}

export function isLonger(a: string, b: string): boolean {
  return approximateDays(mustParse(a)) > approximateDays(mustParse(b));
}
