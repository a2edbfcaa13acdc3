import { describe, expect, it } from 'vitest';
import { anonymiseIp, applyEvent, cookieListHash, isNoop, optOutAction } from './consent-model.js';

describe('anonymiseIp', () => {
  it('cuts IPv4 to its /24 and IPv6 to its /48', () => {
    expect(anonymiseIp('203.0.113.77')).toBe('203.0.113.0');
    expect(anonymiseIp('::ffff:198.51.100.9')).toBe('198.51.100.0');
    expect(anonymiseIp('2001:db8:85a3:8d3:1319:8a2e:370:7348')).toBe('2001:db8:85a3::');
    expect(anonymiseIp('2001:db8::1')).toBe('2001:db8::');
    expect(anonymiseIp('fe80::1%eth0')).toBe('fe80::');
  });
  it('honours other prefixes and refuses what is not an address', () => {
    expect(anonymiseIp('203.0.113.77', { v4: 16, v6: 32 })).toBe('203.0.0.0');
    expect(anonymiseIp('2001:db8:85a3::7348', { v4: 16, v6: 40 })).toBe('2001:db8:8500::');
    expect(anonymiseIp('not an ip')).toBeNull();
    expect(anonymiseIp(undefined)).toBeNull();
  });
});

describe('current state from events', () => {
  const at = new Date('2026-01-01T00:00:00Z');
  it('follows given, withdrawn and objections; an explicit yes lifts a ledger objection', () => {
    const given = applyEvent(null, 'given', at);
    expect(given).toEqual({ consent: 'given', consentAt: at, objectedAt: null });
    const objected = applyEvent(given, 'objected', at);
    expect(objected.objectedAt).toEqual(at);
    expect(objected.consent).toBe('given');
    expect(applyEvent(objected, 'withdrawn', at)).toMatchObject({
      consent: 'withdrawn',
      objectedAt: at,
    });
    expect(applyEvent(objected, 'given', at).objectedAt).toBeNull();
  });
  it('knows when an opt-out would change nothing', () => {
    const withdrawn = applyEvent(applyEvent(null, 'given', at), 'withdrawn', at);
    const action = optOutAction({ legalBasis: 'consent' }, withdrawn);
    expect(isNoop(withdrawn, action)).toBe(true);
    expect(optOutAction({ legalBasis: 'consent' }, applyEvent(null, 'given', at))).toBe(
      'withdrawn',
    );
    expect(optOutAction({ legalBasis: 'consent' }, null)).toBe('refused');
    expect(optOutAction({ legalBasis: 'legitimate_interests' }, null)).toBe('objected');
  });
});

describe('cookieListHash', () => {
  const cookie = {
    name: 'a',
    provider: 'p',
    category: 'analytics',
    purpose: 'x',
    lifetime: 'P1D',
    party: 'first',
  } as const;
  it('changes when the list changes, not when its order does', () => {
    const other = { ...cookie, name: 'b' };
    expect(cookieListHash([cookie, other])).toBe(cookieListHash([other, cookie]));
    expect(cookieListHash([cookie])).not.toBe(cookieListHash([cookie, other]));
    expect(cookieListHash([cookie])).not.toBe(cookieListHash([{ ...cookie, lifetime: 'P2D' }]));
  });
});
