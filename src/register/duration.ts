/**
 * ISO 8601 durations as the register uses them: calendar parts only (years,
 * months, weeks, days), because retention and deadlines are counted in
 * calendar time. `P1M` is one calendar month, not 30 days.
 */
export type Duration = { years: number; months: number; weeks: number; days: number };

const PATTERN = /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?$/;

export const durationAllowed =
  'an ISO 8601 duration with years, months, weeks or days: P10Y, P1M, P30D, P2W, P0D';

export function parseDuration(text: string): Duration | undefined {
  const match = PATTERN.exec(text);
  if (!match || text === 'P') return undefined;
  const [, y, m, w, d] = match;
  return {
    years: Number(y ?? 0),
    months: Number(m ?? 0),
    weeks: Number(w ?? 0),
    days: Number(d ?? 0),
  };
}

/** Approximate length in days, only for comparing two durations (longer or shorter). */
export function approximateDays(duration: Duration): number {
  return duration.years * 365.25 + duration.months * 30.44 + duration.weeks * 7 + duration.days;
}

/** Compares two duration texts: negative when a is shorter, positive when longer. */
export function compareDurations(a: string, b: string): number {
  const da = parseDuration(a);
  const db = parseDuration(b);
  if (!da || !db) return 0;
  return approximateDays(da) - approximateDays(db);
}

/** Adds a duration to a date in calendar terms (a month after 31 Jan is the last day of Feb). */
export function addDuration(date: Date, duration: Duration): Date {
  const out = new Date(date.getTime());
  const day = out.getUTCDate();
  out.setUTCDate(1);
  out.setUTCFullYear(out.getUTCFullYear() + duration.years);
  out.setUTCMonth(out.getUTCMonth() + duration.months);
  const lastDay = new Date(Date.UTC(out.getUTCFullYear(), out.getUTCMonth() + 1, 0)).getUTCDate();
  out.setUTCDate(Math.min(day, lastDay));
  out.setUTCDate(out.getUTCDate() + duration.weeks * 7 + duration.days);
  return out;
}

/**
 * The first instant not yet due at `now`: every time `t` before it has
 * `addDuration(t, duration) <= now`, and it has not. Cutting a log "older
 * than" this removes what is due and keeps everything else. Not a plain
 * subtraction: addDuration clamps to the month's last day, so the days of a
 * longer month past a shorter month's end all land on that last day (from
 * 31 Aug, P6M back is 28 Feb, and 1 Mar + P6M is 1 Sep, after it).
 */
export function firstNotDue(now: Date, duration: Duration): Date {
  // addDuration adds weeks and days last, in exact days: take them off first.
  const base = addDuration(now, {
    years: 0,
    months: 0,
    weeks: -duration.weeks,
    days: -duration.days,
  });
  const months = { years: duration.years, months: duration.months, weeks: 0, days: 0 };
  const back = addDuration(base, { ...months, years: -months.years, months: -months.months });
  // Same day of the month: due up to this very instant, and the next is not...
  const next = new Date(back.getTime() + 1);
  if (back.getUTCDate() === base.getUTCDate() && addDuration(next, months) > base) return next;
  // ...else the rest of that month lands on or before base's day: all due.
  return new Date(Date.UTC(back.getUTCFullYear(), back.getUTCMonth() + 1, 1));
}

const WORDS = [
  'zero',
  'one',
  'two',
  'three',
  'four',
  'five',
  'six',
  'seven',
  'eight',
  'nine',
  'ten',
  'eleven',
  'twelve',
];

function count(n: number, unit: string): string {
  const number = n < WORDS.length ? (WORDS[n] ?? String(n)) : String(n);
  return `${number} ${unit}${n === 1 ? '' : 's'}`;
}

/** "ten years", "one calendar month", "30 days", "two weeks"; undefined for P0D. */
export function durationInWords(text: string): string | undefined {
  const d = parseDuration(text);
  if (!d) return text;
  const parts: string[] = [];
  if (d.years) parts.push(count(d.years, 'year'));
  if (d.months) parts.push(count(d.months, 'calendar month'));
  if (d.weeks) parts.push(count(d.weeks, 'week'));
  if (d.days) parts.push(count(d.days, 'day'));
  if (parts.length === 0) return undefined;
  if (parts.length === 1) return parts[0];
  return `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}`;
}
