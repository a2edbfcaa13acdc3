import type { Keyring } from '../crypto/keyring.js';
import { idPattern } from '../ids/ids.js';
import { type ConsentMedium, consentMedia } from './consent-model.js';

/**
 * Tokens people carry without an account: the one-click unsubscribe token in
 * a mail's List-Unsubscribe URL (RFC 8058) and the visitor token the banner
 * keeps in its cookie. Both are Ed25519-signed by the installation key, with a
 * label in the signed bytes so one kind can never pass for the other. A
 * signature check needs no secret comparison, so there is nothing to time.
 */

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64url');
const unb64 = (text: string) => Buffer.from(text, 'base64url').toString('utf8');
const KEY = /^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$/;

export type UnsubscribeClaim = {
  tenantId: string;
  subjectId: string;
  purpose: string;
  medium: ConsentMedium;
};

type Signer = Pick<Keyring, 'sign' | 'verify'>;

export function createTokens(keyring: Signer) {
  const signed = (label: string, payload: string) =>
    keyring.sign(Buffer.from(`avow/v1/${label}\n${payload}`, 'utf8')).toString('base64url');
  const valid = (label: string, payload: string, signature: string) => {
    if (!/^[A-Za-z0-9_-]{86}$/.test(signature)) return false;
    const bytes = Buffer.from(signature, 'base64url');
    // One spelling per token: unused trailing bits must be zero.
    if (bytes.toString('base64url') !== signature) return false;
    return keyring.verify(Buffer.from(`avow/v1/${label}\n${payload}`, 'utf8'), bytes);
  };

  return {
    unsubscribeToken(claim: UnsubscribeClaim): string {
      const payload = b64([claim.tenantId, claim.subjectId, claim.purpose, claim.medium].join(' '));
      return `u1.${payload}.${signed('unsubscribe', payload)}`;
    },
    /** The claim, or null for anything not issued by this installation. */
    readUnsubscribeToken(token: string): UnsubscribeClaim | null {
      const [version, payload, signature, extra] = token.split('.');
      if (version !== 'u1' || !payload || !signature || extra !== undefined) return null;
      if (!valid('unsubscribe', payload, signature)) return null;
      const [tenantId, subjectId, purpose, medium] = unb64(payload).split(' ');
      if (!tenantId || !subjectId || !purpose || !medium) return null;
      if (!idPattern('tenant').test(tenantId) || !idPattern('subject').test(subjectId)) return null;
      if (!KEY.test(purpose) || !(consentMedia as readonly string[]).includes(medium)) return null;
      return { tenantId, subjectId, purpose, medium: medium as ConsentMedium };
    },
    visitorToken(tenantId: string, visitorId: string): string {
      return `${visitorId}.${signed('visitor', `${tenantId} ${visitorId}`)}`;
    },
    /** The visitor id, when the token was issued for this tenant. */
    readVisitorToken(tenantId: string, token: string): string | null {
      const [visitorId, signature, extra] = token.split('.');
      if (!visitorId || !signature || extra !== undefined) return null;
      if (!idPattern('visitor').test(visitorId)) return null;
      return valid('visitor', `${tenantId} ${visitorId}`, signature) ? visitorId : null;
    },
  };
}

export type Tokens = ReturnType<typeof createTokens>;

/** The RFC 2369 / RFC 8058 header values a sender puts on a marketing mail. */
export function unsubscribeHeaders(
  url: string,
  mailto?: string,
): {
  'List-Unsubscribe': string;
  'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click';
} {
  return {
    'List-Unsubscribe': mailto ? `<${url}>, <mailto:${mailto}>` : `<${url}>`,
    'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
  };
}
