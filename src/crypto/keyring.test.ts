import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createKeyring, DecryptionError, open, seal } from './keyring.js';

const signingKey = generateKeyPairSync('ed25519').privateKey;

describe('seal and open', () => {
  it('round-trips and refuses another key, another context or a flipped bit', () => {
    const key = randomBytes(32);
    const sealed = seal(key, 'anna@example.com', 'ctx');
    expect(sealed.includes(Buffer.from('anna@example.com'))).toBe(false);
    expect(open(key, sealed, 'ctx').toString()).toBe('anna@example.com');
    expect(() => open(randomBytes(32), sealed, 'ctx')).toThrow(DecryptionError);
    expect(() => open(key, sealed, 'other')).toThrow(DecryptionError);
    const flipped = Buffer.from(sealed);
    flipped[flipped.length - 1] = (flipped.at(-1) ?? 0) ^ 1;
    expect(() => open(key, flipped, 'ctx')).toThrow(DecryptionError);
  });

  it('uses a fresh IV every time', () => {
    const key = randomBytes(32);
    expect(seal(key, 'same', 'c').equals(seal(key, 'same', 'c'))).toBe(false);
  });
});

describe('keyring', () => {
  it('wraps data keys under the current master key and unwraps older versions', () => {
    const v1 = { version: 1, key: randomBytes(32) };
    const v2 = { version: 2, key: randomBytes(32) };
    const old = createKeyring({ masterKeys: [v1], signingKey });
    const dataKey = randomBytes(32);
    const wrapped = old.wrap(dataKey, 'subject-1');
    const rotated = createKeyring({ masterKeys: [v1, v2], signingKey });
    expect(rotated.currentMasterVersion).toBe(2);
    expect(
      rotated.unwrap(wrapped.wrapped, wrapped.masterVersion, 'subject-1').equals(dataKey),
    ).toBe(true);
    expect(() => rotated.unwrap(wrapped.wrapped, wrapped.masterVersion, 'subject-2')).toThrow(
      DecryptionError,
    );
  });

  it('signs and verifies with the installation key', () => {
    const ring = createKeyring({ masterKeys: [{ version: 1, key: randomBytes(32) }], signingKey });
    const signature = ring.sign(Buffer.from('checkpoint'));
    expect(ring.verify(Buffer.from('checkpoint'), signature)).toBe(true);
    expect(ring.verify(Buffer.from('checkpoinT'), signature)).toBe(false);
    expect(ring.publicKeyPem).toContain('BEGIN PUBLIC KEY');
  });
});
