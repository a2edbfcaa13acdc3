import type { KeyObject } from 'node:crypto';
import { canonicalJson } from '../consent/receipts.js';
import { verifySignature } from '../crypto/keyring.js';

/**
 * The completion receipt of a rights request: what was asked, what was done,
 * what was kept and why, signed with the installation's Ed25519 key over its
 * canonical JSON so the requester (or an authority) can check it offline.
 */
export type RequestReceipt = {
  format: 'avow.request-receipt/1';
  receiptId: string;
  requestId: string;
  tenantId: string;
  controller: string;
  type: string;
  status: string;
  receivedAt: string;
  verifiedAt: string | null;
  dueDate: string;
  completedAt: string;
  actions: string[];
  kept: { what: string; reason: string }[];
  registerVersion: string | null;
  issuedAt: string;
};

export type SignedRequestReceipt = {
  receipt: RequestReceipt;
  signature: { alg: 'Ed25519'; value: string };
};

export const requestReceiptBytes = (receipt: RequestReceipt): Buffer =>
  Buffer.from(`avow/v1/request-receipt\n${canonicalJson(receipt)}`, 'utf8');

export function signRequestReceipt(
  receipt: RequestReceipt,
  sign: (bytes: Buffer) => Buffer,
): SignedRequestReceipt {
  return {
    receipt,
    signature: { alg: 'Ed25519', value: sign(requestReceiptBytes(receipt)).toString('base64') },
  };
}

export function verifyRequestReceipt(signed: SignedRequestReceipt, publicKey: KeyObject): boolean {
  return verifySignature(
    requestReceiptBytes(signed.receipt),
    Buffer.from(signed.signature.value, 'base64'),
    publicKey,
  );
}

/** Where the receipt sits in the completion e-mail, so a program can cut it out. */
export const receiptMarkers = {
  begin: '-----BEGIN AVOW REQUEST RECEIPT-----',
  end: '-----END AVOW REQUEST RECEIPT-----',
};
