import { describe, expect, it } from 'vitest';
import { canonicalJson } from './audit-chain.js';
import { pruneCutoff } from './audit-service.js';

describe('canonicalJson', () => {
  it('sorts keys at every depth and drops undefined, so jsonb key order cannot change a hash', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: undefined }, e: null })).toBe(
      '{"a":{"d":[1,{"y":2,"z":1}]},"b":1,"e":null}',
    );
  });
});

describe('pruneCutoff', () => {
  const cut = (now: string, retention: string) =>
    pruneCutoff(new Date(now), retention).toISOString();

  it('keeps every entry whose retention has not ended at a month end', () => {
    // 31 Aug minus six months: 28 Feb (+P6M = 28 Aug) is due, 1 Mar (+P6M = 1 Sep) is not.
    expect(cut('2025-08-31T12:00:00.000Z', 'P6M')).toBe('2025-03-01T00:00:00.000Z');
    expect(cut('2025-03-31T12:00:00.000Z', 'P1M')).toBe('2025-03-01T00:00:00.000Z');
    expect(cut('2028-02-29T12:00:00.000Z', 'P2Y')).toBe('2026-03-01T00:00:00.000Z');
  });

  it('removes an entry whose time plus the retention is exactly now, not one a millisecond younger', () => {
    // Entries strictly before the cutoff go: 12:00:00.000 does, 12:00:00.001 stays.
    expect(cut('2026-03-31T12:00:00.000Z', 'P2Y')).toBe('2024-03-31T12:00:00.001Z');
    expect(cut('2026-03-31T12:00:00.000Z', 'P30D')).toBe('2026-03-01T12:00:00.001Z');
    expect(cut('2025-02-28T12:00:00.000Z', 'P6M')).toBe('2024-08-28T12:00:00.001Z');
  });

  it('refuses what is not a register duration', () => {
    expect(() => pruneCutoff(new Date(), '2 years')).toThrow(/ISO 8601 duration/);
    expect(() => pruneCutoff(new Date(), 'P')).toThrow(/ISO 8601 duration/);
    expect(() => pruneCutoff(new Date(), 'PT12H')).toThrow(/ISO 8601 duration/);
  });
});
