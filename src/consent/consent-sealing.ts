import { open, seal } from '../crypto/keyring.js';

/**
 * Where a consent event came from: the anonymised address and the user agent.
 * They are about the person, not the consent, so the ledger keeps them sealed
 * under the holder's data key (a subject's, or a visitor's under the visitor
 * id): destroying the key at erasure makes them unreadable in every backup
 * too. The rest of the event (purpose, action, channel, policy version, text
 * hash, time) stays in clear as the evidence Art. 7(1) asks for.
 */
export type Whereabouts = { ipAnonymised: string | null; userAgent: string | null };

/** Bound to the tenant, the event and the key's owner: a sealed value moved to another row does not open. */
const aad = (tenantId: string, eventId: string, keyOwner: string) =>
  `avow/consent-event/${tenantId}/${eventId}/${keyOwner}`;

export function sealWhereabouts(
  key: Buffer,
  at: { tenantId: string; eventId: string; keyOwner: string },
  whereabouts: Whereabouts,
): Buffer {
  return seal(key, JSON.stringify(whereabouts), aad(at.tenantId, at.eventId, at.keyOwner));
}

export function openWhereabouts(
  key: Buffer,
  at: { tenantId: string; eventId: string; keyOwner: string },
  sealed: Buffer,
): Whereabouts {
  return JSON.parse(
    open(key, sealed, aad(at.tenantId, at.eventId, at.keyOwner)).toString('utf8'),
  ) as Whereabouts;
}
