import { createHmac, randomBytes, randomInt } from 'node:crypto';
import { safeEqual, sha256 } from './hashing.js';

/**
 * One-time codes sent by e-mail (rights request verification). A code has few
 * digits, so a plain hash of it could be reversed by trying every code: it is
 * stored as an HMAC under a key derived from the master key and bound to the
 * request it belongs to, and compared in constant time.
 */
export function newOneTimeCode(digits = 8): string {
  let code = '';
  for (let i = 0; i < digits; i++) code += String(randomInt(10));
  return code;
}

export function oneTimeCodeDigest(key: Buffer, context: string, code: string): Buffer {
  return createHmac('sha256', key).update(context).update('\0').update(code).digest();
}

export function oneTimeCodeMatches(
  key: Buffer,
  context: string,
  code: string,
  stored: Buffer,
): boolean {
  return safeEqual(oneTimeCodeDigest(key, context, code), stored);
}

/** A download or status token is 256 random bits: SHA-256 of it is enough at rest. */
export const tokenDigest = (token: string): Buffer => sha256(token);

/** A Standard Webhooks secret: `whsec_` and 32 random bytes in standard base64 (the spec's format). */
export const newWebhookSecret = (): string => `whsec_${randomBytes(32).toString('base64')}`;
