import { describe, expect, it } from 'vitest';
import { addDuration, parseDuration } from '../register/duration.js';
import { latestTrigger } from './retention-store.js';

describe('latestTrigger (the sweep narrows by it before the exact test)', () => {
  it('never leaves out a trigger time that the duration brings to asOf', () => {
    const durations = ['P0D', 'P1D', 'P2W', 'P1M', 'P2M', 'P6M', 'P11M', 'P1Y', 'P1Y1M', 'P10Y'];
    // Every day of 2023 and 2024 (a leap year), at 10:00 and just before midnight: month ends and 29 February.
    const starts: Date[] = [];
    for (let day = 0; day < 731; day++) {
      const base = Date.UTC(2023, 0, 1) + day * 86_400_000;
      starts.push(new Date(base + 10 * 3_600_000), new Date(base + 86_399_999));
    }
    for (const text of durations) {
      const duration = parseDuration(text);
      if (!duration) throw new Error(text);
      for (const trigger of starts) {
        const due = addDuration(trigger, duration);
        expect(trigger.getTime()).toBeLessThanOrEqual(latestTrigger(due, duration).getTime());
      }
    }
  });

  it('is one day past the tightest bound for a count of days', () => {
    const asOf = new Date('2025-06-15T12:00:00.000Z');
    const duration = parseDuration('P30D');
    if (!duration) throw new Error('P30D');
    expect(latestTrigger(asOf, duration).toISOString()).toBe('2025-05-17T12:00:00.000Z');
  });
});
