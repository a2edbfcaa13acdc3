import { isIPv4, isIPv6 } from 'node:net';
import { sha256 } from '../crypto/hashing.js';
import type { Cookie, CookieCategory, Purpose, Register } from '../register/register-schema.js';

/**
 * The consent ledger's vocabulary and the pure rules around it: what an event
 * does to the current state, how an IP address is cut down before it is
 * stored, and the hashes that tie an event to the text a person saw.
 */

export const consentActions = ['given', 'withdrawn', 'refused', 'expired', 'objected'] as const;
export type ConsentAction = (typeof consentActions)[number];
export type ConsentValue = Exclude<ConsentAction, 'objected'>;

/** Where a person made a choice: the channels a caller may record. */
export const consentChannels = [
  'banner',
  'privacy_center',
  'form',
  'api',
  'unsubscribe_link',
  'gpc',
] as const;
/** Every channel in the ledger: the people's, and `expiry` (consent that lapsed by time). */
export const ledgerChannels = [...consentChannels, 'expiry'] as const;
export type ConsentChannel = (typeof ledgerChannels)[number];

/** The contact media an opt-out can be limited to; `all` is the purpose as a whole. */
export const consentMedia = ['all', 'email', 'sms', 'phone', 'post', 'push', 'in_app'] as const;
export type ConsentMedium = (typeof consentMedia)[number];

/** Cookie categories are recorded in the ledger as purposes named `cookies.<category>`. */
export const cookiePurposePrefix = 'cookies.';
export const cookiePurpose = (category: CookieCategory): string =>
  `${cookiePurposePrefix}${category}`;
export const optionalCookieCategories = ['functional', 'analytics', 'marketing'] as const;

/** The current state of one holder (subject or visitor) for one purpose and medium. */
export type CurrentConsent = {
  consent: ConsentValue | null;
  consentAt: Date | null;
  objectedAt: Date | null;
};

/**
 * What an event does to the current state. An objection sets `objectedAt` and
 * leaves consent alone; an explicit "given" lifts an objection the ledger
 * itself recorded (a GPC signal or an unsubscribe), because the person has
 * just said yes in so many words.
 */
export function applyEvent(
  before: CurrentConsent | null,
  action: ConsentAction,
  at: Date,
): CurrentConsent {
  const base = before ?? { consent: null, consentAt: null, objectedAt: null };
  if (action === 'objected') return { ...base, objectedAt: base.objectedAt ?? at };
  if (action === 'given') return { consent: 'given', consentAt: at, objectedAt: null };
  return { ...base, consent: action, consentAt: at };
}

/**
 * Two subjects merged, each with a state for the same purpose and medium: the
 * later consent time wins (it is the person's latest choice), and an objection
 * on either side stays (a merge never lifts one; the earlier time stands).
 */
export function mergeConsent<T extends CurrentConsent>(into: T, from: T): T {
  const time = (at: Date | null) => at?.getTime() ?? Number.NEGATIVE_INFINITY;
  const winner = time(from.consentAt) > time(into.consentAt) ? from : into;
  const objections = [into.objectedAt, from.objectedAt].filter((at): at is Date => at !== null);
  const objectedAt = objections.length > 0 ? new Date(Math.min(...objections.map(time))) : null;
  return { ...winner, objectedAt };
}

/** True when recording `action` would change nothing (keeps GPC and unsubscribe idempotent). */
export function isNoop(before: CurrentConsent | null, action: ConsentAction): boolean {
  if (!before) return false;
  if (action === 'objected') return before.objectedAt !== null;
  if (action === 'given') return before.consent === 'given' && before.objectedAt === null;
  return before.consent === action;
}

/** An opt-out of a purpose: withdrawal if consent was given, refusal if never asked, objection otherwise. */
export function optOutAction(
  purpose: Pick<Purpose, 'legalBasis'> | undefined,
  before: CurrentConsent | null,
): ConsentAction {
  if (purpose && purpose.legalBasis !== 'consent') return 'objected';
  if (before?.consent === 'given') return 'withdrawn';
  // Already out: the same action again, which records nothing (idempotent).
  if (before?.consent === 'withdrawn' || before?.consent === 'refused') return before.consent;
  return 'refused';
}

/**
 * IPv4 to its /24 and IPv6 to its /48 by default: enough to tell a country or
 * a network apart, not enough to single out a household.
 */
export function anonymiseIp(ip: string | undefined, prefix = { v4: 24, v6: 48 }): string | null {
  if (!ip) return null;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  const address = mapped?.[1] ?? ip;
  if (isIPv4(address)) {
    const value = address.split('.').reduce((n, part) => n * 256 + Number(part), 0);
    const bits = Math.max(0, Math.min(32, prefix.v4));
    const masked = bits === 0 ? 0 : value - (value % 2 ** (32 - bits));
    return [24, 16, 8, 0].map((shift) => Math.floor(masked / 2 ** shift) % 256).join('.');
  }
  const bare = address.split('%')[0] ?? address;
  if (isIPv6(bare)) {
    const groups = expandIpv6(bare);
    const bits = Math.max(0, Math.min(128, prefix.v6));
    const kept = groups.map((group, index) => {
      const from = index * 16;
      if (from + 16 <= bits) return group;
      if (from >= bits) return 0;
      const keep = bits - from;
      return group & (0xffff << (16 - keep)) & 0xffff;
    });
    return compressIpv6(kept);
  }
  return null;
}

function expandIpv6(address: string): number[] {
  let text = address;
  // An embedded IPv4 tail (::ffff:1.2.3.4 handled above; 64:ff9b::1.2.3.4 here).
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4?.[1]) {
    const parts = v4[1].split('.').map(Number);
    const hex = (a = 0, b = 0) => ((a << 8) | b).toString(16);
    text = `${text.slice(0, -v4[1].length)}${hex(parts[0], parts[1])}:${hex(parts[2], parts[3])}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const missing = 8 - left.length - right.length;
  return [...left, ...Array(tail === undefined ? 0 : missing).fill('0'), ...right].map((g) =>
    Number.parseInt(g, 16),
  );
}

function compressIpv6(groups: number[]): string {
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === 0) j++;
    if (j - i > bestLength && j - i > 1) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  const left = hex.slice(0, bestStart).join(':');
  const right = hex.slice(bestStart + bestLength).join(':');
  return `${left}::${right}`;
}

const hashText = (text: string): string => `sha256:${sha256(text).toString('hex')}`;

/** The hash of what a person is asked for a purpose in a register version. */
export function purposeTextHash(purpose: Purpose): string {
  return hashText(
    JSON.stringify([
      purpose.key,
      purpose.name,
      purpose.description ?? null,
      purpose.consent?.text ?? null,
    ]),
  );
}

/** The cookie list as the banner shows it; a change here makes the banner ask again. */
export function cookieListHash(cookies: readonly Cookie[]): string {
  const rows = cookies
    .map((c) => [c.name, c.provider, c.category, c.purpose, c.lifetime, c.party].join('\u0000'))
    .sort();
  return hashText(rows.join('\n')).slice(0, 7 + 32);
}

/** The hash of the cookies of one category as the banner lists them. */
export function cookieCategoryTextHash(
  cookies: readonly Cookie[],
  category: CookieCategory,
): string {
  return cookieListHash(cookies.filter((c) => c.category === category));
}

/** The text hash the ledger stores for a purpose key (a register purpose or cookies.<category>). */
export function textHashFor(register: Register | null, purposeKey: string): string | null {
  if (!register) return null;
  if (purposeKey.startsWith(cookiePurposePrefix)) {
    const category = purposeKey.slice(cookiePurposePrefix.length) as CookieCategory;
    return cookieCategoryTextHash(register.cookies, category);
  }
  const purpose = register.purposes.find((p) => p.key === purposeKey);
  return purpose ? purposeTextHash(purpose) : null;
}

/** Purposes a Global Privacy Control signal opts out of: what the register marks, and marketing cookies. */
export function gpcPurposes(register: Register | null): string[] {
  const marked = (register?.purposes ?? []).filter((p) => p.gpcStops).map((p) => p.key);
  return [...marked, cookiePurpose('marketing')];
}

/** Whether a cookie category needs consent under this register (necessary never does). */
export function categoryNeedsConsent(register: Register | null, category: CookieCategory): boolean {
  if (category === 'necessary') return false;
  return register ? register.cookieConsent.requiredFor.includes(category) : true;
}
