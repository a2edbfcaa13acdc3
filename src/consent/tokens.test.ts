import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createKeyring } from '../crypto/keyring.js';
import { newId } from '../ids/ids.js';
import { createTokens, unsubscribeHeaders } from './tokens.js';

const keyring = () =>
  createKeyring({
    masterKeys: [{ version: 1, key: Buffer.alloc(32, 7) }],
    signingKey: generateKeyPairSync('ed25519').privateKey,
  });

describe('unsubscribe and visitor tokens', () => {
  const tokens = createTokens(keyring());
  const claim = {
    tenantId: newId('tenant'),
    subjectId: newId('subject'),
    purpose: 'newsletter',
    medium: 'email' as const,
  };

  it('round-trips a claim and refuses any change to it', () => {
    const token = tokens.unsubscribeToken(claim);
    expect(tokens.readUnsubscribeToken(token)).toEqual(claim);
    const [v, payload, sig] = token.split('.');
    const otherPurpose = Buffer.from(
      `${claim.tenantId} ${claim.subjectId} analytics email`,
    ).toString('base64url');
    expect(tokens.readUnsubscribeToken(`${v}.${otherPurpose}.${sig}`)).toBeNull();
    expect(
      tokens.readUnsubscribeToken(
        `${v}.${payload}.${sig?.replace(/^./, (c) => (c === 'A' ? 'B' : 'A'))}`,
      ),
    ).toBeNull();
    // The same signature bytes spelled with non-zero padding bits: refused too.
    const last = sig?.at(-1) ?? 'A';
    expect('AQgw').toContain(last);
    const respelled = `${sig?.slice(0, -1)}${String.fromCharCode(last.charCodeAt(0) + 1)}`;
    expect(Buffer.from(respelled, 'base64url')).toEqual(Buffer.from(sig ?? '', 'base64url'));
    expect(tokens.readUnsubscribeToken(`${v}.${payload}.${respelled}`)).toBeNull();
    expect(tokens.readUnsubscribeToken('garbage')).toBeNull();
    expect(createTokens(keyring()).readUnsubscribeToken(token)).toBeNull();
  });

  it('binds a visitor token to its tenant and keeps the kinds apart', () => {
    const tenantId = newId('tenant');
    const visitorId = newId('visitor');
    const token = tokens.visitorToken(tenantId, visitorId);
    expect(tokens.readVisitorToken(tenantId, token)).toBe(visitorId);
    expect(tokens.readVisitorToken(newId('tenant'), token)).toBeNull();
    expect(tokens.readUnsubscribeToken(token)).toBeNull();
  });

  it('gives the RFC 8058 header values', () => {
    expect(unsubscribeHeaders('https://a.example/u?token=x', 'unsub@a.example')).toEqual({
      'List-Unsubscribe': '<https://a.example/u?token=x>, <mailto:unsub@a.example>',
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
    });
  });
});
