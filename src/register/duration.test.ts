import { describe, expect, it } from 'vitest';
import { addDuration, firstNotDue, parseDuration } from './duration.js';

const DAY = 86_400_000;

describe('firstNotDue', () => {
  it('is the first instant whose time plus the duration is after now, and everything before it is due', () => {
    const durations = ['P1M', 'P6M', 'P1Y', 'P2Y', 'P10Y', 'P1M1D', 'P2W', 'P30D', 'P0D'];
    const start = Date.UTC(2027, 0, 1);
    const wrong: string[] = [];
    for (const text of durations) {
      const duration = parseDuration(text);
      if (!duration) throw new Error(text);
      // Every day of two years (leap day included), at noon and at the last millisecond.
      for (let day = 0; day < 2 * 366; day += 1) {
        for (const offset of [12 * 3_600_000, DAY - 1]) {
          const now = new Date(start + day * DAY + offset);
          const cut = firstNotDue(now, duration);
          const label = `${now.toISOString()} ${text}`;
          if (addDuration(cut, duration) <= now) wrong.push(`${label}: the cutoff itself is due`);
          // Hourly back over three days from the millisecond before the cutoff.
          for (let t = cut.getTime() - 1; t > cut.getTime() - 3 * DAY; t -= 3_600_000) {
            if (addDuration(new Date(t), duration) > now)
              wrong.push(`${label}: ${new Date(t).toISOString()} is not due but goes`);
          }
        }
      }
    }
    expect(wrong).toEqual([]);
  });
});
