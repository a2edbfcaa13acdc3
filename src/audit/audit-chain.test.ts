import { describe, expect, it } from 'vitest';
import { canonicalJson } from './audit-chain.js';
import { subtractDuration } from './audit-service.js';

describe('canonicalJson', () => {
  it('sorts keys at every depth and drops undefined, so jsonb key order cannot change a hash', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: undefined }, e: null })).toBe(
      '{"a":{"d":[1,{"y":2,"z":1}]},"b":1,"e":null}',
    );
  });
});

describe('subtractDuration', () => {
  it('subtracts ISO 8601 durations in calendar terms', () => {
    const from = new Date('2026-03-31T12:00:00.000Z');
    expect(subtractDuration(from, 'P2Y').toISOString()).toBe('2024-03-31T12:00:00.000Z');
    expect(subtractDuration(from, 'P30D').toISOString()).toBe('2026-03-01T12:00:00.000Z');
    expect(subtractDuration(from, 'PT12H').toISOString()).toBe('2026-03-31T00:00:00.000Z');
  });

  it('refuses what is not a duration', () => {
    expect(() => subtractDuration(new Date(), '2 years')).toThrow(/ISO 8601 duration/);
    expect(() => subtractDuration(new Date(), 'P')).toThrow(/ISO 8601 duration/);
  });
});
