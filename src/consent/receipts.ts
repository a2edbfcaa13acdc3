import type { KeyObject } from 'node:crypto';
import { verifySignature } from '../crypto/keyring.js';
import type { LegalBasis, Register } from '../register/register-schema.js';
import type { ConsentAction, ConsentChannel } from './consent-model.js';

/**
 * A consent receipt: the fields of the Kantara Consent Receipt v1.1 (which
 * ISO/IEC 27560 builds on) for one change in the ledger, signed with the
 * installation's Ed25519 key over its canonical JSON, so anyone holding the
 * public key can check it offline.
 */
export type ReceiptPurpose = {
  purpose: string;
  purposeKey: string;
  purposeCategory: string[];
  consentType: 'EXPLICIT' | 'OPT_OUT';
  legalBasis: LegalBasis | 'consent';
  piiCategory: string[];
  primaryPurpose: boolean;
  termination: string;
  thirdPartyDisclosure: boolean;
  thirdPartyName: string[];
  medium: string;
  state: ConsentAction;
  textHash: string | null;
};

export type ConsentReceipt = {
  version: 'KI-CR-v1.1.0';
  format: 'avow.consent-receipt/1';
  consentReceiptID: string;
  jurisdiction: string;
  consentTimestamp: number;
  issuedAt: string;
  collectionMethod: ConsentChannel;
  language: string;
  tenantId: string;
  piiPrincipalId: string;
  piiControllers: {
    piiController: string;
    contact: string | null;
    email: string | null;
    phone: string | null;
    address: string | null;
    piiControllerUrl: string | null;
  }[];
  policyUrl: string | null;
  policyVersion: string | null;
  registerVersion: string | null;
  services: { service: string; purposes: ReceiptPurpose[] }[];
  sensitive: boolean;
  spiCat: string[];
  eventIds: string[];
};

export type SignedReceipt = {
  receipt: ConsentReceipt;
  signature: { alg: 'Ed25519'; value: string };
};

/** JSON with object keys sorted at every level: one byte string per receipt. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

export const receiptBytes = (receipt: ConsentReceipt): Buffer =>
  Buffer.from(`avow/v1/consent-receipt\n${canonicalJson(receipt)}`, 'utf8');

export type ReceiptEvent = {
  id: string;
  purpose: string;
  medium: string;
  action: ConsentAction;
  textHash: string | null;
};

export function buildReceipt(input: {
  id: string;
  tenantId: string;
  tenantRegion: string;
  holderId: string;
  channel: ConsentChannel;
  at: Date;
  register: Register | null;
  registerVersion: string | null;
  policyUrl: string | null;
  events: ReceiptEvent[];
}): ConsentReceipt {
  const register = input.register;
  const org = register?.organisation;
  const purposes = input.events.map((event): ReceiptPurpose => {
    const purpose = register?.purposes.find((p) => p.key === event.purpose);
    const recipients = (register?.recipients ?? []).filter((r) =>
      purpose?.recipients.includes(r.key),
    );
    const cookieCategory = event.purpose.startsWith('cookies.') ? event.purpose.slice(8) : null;
    return {
      purpose: purpose?.name ?? (cookieCategory ? `Cookies: ${cookieCategory}` : event.purpose),
      purposeKey: event.purpose,
      purposeCategory: purpose?.uses ?? [],
      consentType: purpose && purpose.legalBasis !== 'consent' ? 'OPT_OUT' : 'EXPLICIT',
      legalBasis: purpose?.legalBasis ?? 'consent',
      piiCategory: purpose?.categories ?? [],
      primaryPurpose: false,
      termination:
        purpose?.consent?.withdrawable === false ? 'not withdrawable' : 'withdrawable at any time',
      thirdPartyDisclosure: recipients.some((r) => r.role === 'controller'),
      thirdPartyName: recipients.filter((r) => r.role === 'controller').map((r) => r.name),
      medium: event.medium,
      state: event.action,
      textHash: event.textHash,
    };
  });
  const special = new Set((register?.categories ?? []).filter((c) => c.special).map((c) => c.key));
  const spiCat = [...new Set(purposes.flatMap((p) => p.piiCategory).filter((c) => special.has(c)))];
  return {
    version: 'KI-CR-v1.1.0',
    format: 'avow.consent-receipt/1',
    consentReceiptID: input.id,
    jurisdiction: org?.supervisoryAuthority.country ?? input.tenantRegion,
    consentTimestamp: Math.floor(input.at.getTime() / 1000),
    issuedAt: input.at.toISOString(),
    collectionMethod: input.channel,
    language: register?.policy.language ?? 'en',
    tenantId: input.tenantId,
    piiPrincipalId: input.holderId,
    piiControllers: org
      ? [
          {
            piiController: org.name,
            contact: org.privacyContact.name ?? null,
            email: org.privacyContact.email ?? null,
            phone: org.privacyContact.phone ?? null,
            address: org.address ?? org.privacyContact.address ?? null,
            piiControllerUrl: org.website ?? null,
          },
        ]
      : [],
    policyUrl: input.policyUrl,
    policyVersion: register?.policy.version ?? null,
    registerVersion: input.registerVersion,
    services: [{ service: org?.name ?? input.tenantId, purposes }],
    sensitive: spiCat.length > 0,
    spiCat,
    eventIds: input.events.map((e) => e.id),
  };
}

export function signReceipt(
  receipt: ConsentReceipt,
  sign: (bytes: Buffer) => Buffer,
): SignedReceipt {
  return {
    receipt,
    signature: { alg: 'Ed25519', value: sign(receiptBytes(receipt)).toString('base64url') },
  };
}

/** Checks a receipt against the installation's public key; any change to any field fails it. */
export function verifyReceipt(signed: SignedReceipt, publicKey: KeyObject): boolean {
  if (signed?.signature?.alg !== 'Ed25519' || typeof signed.signature.value !== 'string')
    return false;
  return verifySignature(
    receiptBytes(signed.receipt),
    Buffer.from(signed.signature.value, 'base64url'),
    publicKey,
  );
}
