import { describe, expect, it } from 'vitest';
import { normaliseIdentity } from './blind-index.js';

describe('normaliseIdentity', () => {
  it('makes the same person the same bytes', () => {
    expect(normaliseIdentity({ kind: 'email', value: ' Anna@Example.COM ' })).toEqual({
      ok: true,
      identity: { kind: 'email', value: 'anna@example.com' },
    });
    expect(normaliseIdentity({ kind: 'phone', value: '00358 (40) 123-45.67' })).toEqual({
      ok: true,
      identity: { kind: 'phone', value: '+358401234567' },
    });
    // A trunk 0 in brackets is not part of the international number.
    for (const written of ['+358 (0)40 123 4567', '00358(0)401234567', '+358 40 123 4567']) {
      expect(normaliseIdentity({ kind: 'phone', value: written }), written).toEqual({
        ok: true,
        identity: { kind: 'phone', value: '+358401234567' },
      });
    }
    expect(normaliseIdentity({ kind: 'phone', value: '+44 (0)20 7946 0000' })).toEqual({
      ok: true,
      identity: { kind: 'phone', value: '+442079460000' },
    });
    expect(normaliseIdentity({ kind: 'external', type: ' HubSpot ', value: ' 42 ' })).toEqual({
      ok: true,
      identity: { kind: 'external', type: 'hubspot', value: '42' },
    });
    expect(normaliseIdentity({ kind: 'account_id', value: ' AbC ' })).toEqual({
      ok: true,
      identity: { kind: 'account_id', value: 'AbC' },
    });
  });

  it('refuses what it cannot normalise, without echoing it', () => {
    const phone = normaliseIdentity({ kind: 'phone', value: '040 1234567' });
    expect(phone.ok).toBe(false);
    expect(phone.ok ? '' : phone.message).not.toContain('040');
    expect(normaliseIdentity({ kind: 'email', value: 'anna' }).ok).toBe(false);
    expect(normaliseIdentity({ kind: 'external', value: '1' }).ok).toBe(false);
  });
});
