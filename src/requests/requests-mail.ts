import type { Register } from '../register/register-schema.js';
import type { Tenant } from '../tenancy/tenants-store.js';
import { dueDateOf } from './requests-model.js';
import { receiptMarkers, type SignedRequestReceipt } from './requests-receipt.js';
import type { StoredRequest } from './requests-store.js';

/**
 * The e-mails a request sends. Every one names the request id; the ones to
 * the requester name the due date. Plain text: it reads the same in every
 * client and a program can cut the code or the receipt out of it.
 */
const typeWords: Record<string, string> = {
  access: 'access to your data',
  portability: 'a copy of your data (portability)',
  rectification: 'rectification of your data',
  erasure: 'erasure of your data',
  restriction: 'restriction of processing',
  objection: 'objection to processing',
  withdraw_consent: 'withdrawal of consent',
};

type R = Pick<StoredRequest, 'id' | 'type' | 'dueAt' | 'status' | 'tenantId'>;

export function mailTexts(register: Register, tenant: Tenant) {
  const org = register.organisation.name;
  const contact =
    register.organisation.dpo?.email ?? register.organisation.privacyContact.email ?? null;
  const authority = register.organisation.supervisoryAuthority;
  const sign = [
    '',
    `${org}${contact ? ` (${contact})` : ''}`,
    `If you are not satisfied with how we handle your request, you may complain to the supervisory authority: ${authority.name}, ${authority.url}.`,
  ].join('\n');
  const what = (r: R) => typeWords[r.type] ?? r.type;
  const due = (r: R) => dueDateOf(r.dueAt);
  return {
    acknowledgement: {
      subject: (r: R) => `Your request ${r.id} was received`,
      text: (r: R, code?: string) =>
        [
          `We received your request for ${what(r)}.`,
          '',
          `Request id: ${r.id}`,
          `Due date: ${due(r)}`,
          '',
          ...(code
            ? [
                `To confirm that this e-mail address is yours, enter this code: ${code}`,
                'The code works for 30 minutes. Until you enter it, the time to answer does not run; a request that is never confirmed expires.',
              ]
            : ['Your identity was verified by the service you used, so we are working on it.']),
          ...(r.status === 'forwarded'
            ? [
                '',
                'We process this data on behalf of another organisation; they decide on your request.',
              ]
            : []),
          sign,
        ].join('\n'),
    },
    code: {
      subject: (r: R) => `Your code for request ${r.id}`,
      text: (r: R, code: string) =>
        [
          `Request id: ${r.id}`,
          '',
          `Your new code: ${code}`,
          'It works for 30 minutes; earlier codes no longer work.',
          sign,
        ].join('\n'),
    },
    verified: {
      subject: (r: R) => `Your request ${r.id} was verified`,
      text: (r: R) =>
        [
          `Your identity was verified. We answer your request for ${what(r)} by ${due(r)}.`,
          '',
          `Request id: ${r.id}`,
          `Due date: ${due(r)}`,
          sign,
        ].join('\n'),
    },
    extended: {
      subject: (r: R) => `More time is needed for your request ${r.id}`,
      text: (r: R, reason: string) =>
        [
          `We need more time to answer your request for ${what(r)}.`,
          '',
          `Reason: ${reason}`,
          '',
          `Request id: ${r.id}`,
          `New due date: ${due(r)}`,
          sign,
        ].join('\n'),
    },
    awaiting: {
      subject: (r: R) => `We need something from you for request ${r.id}`,
      text: (r: R, reason: string) =>
        [
          `To answer your request for ${what(r)} we need: ${reason}`,
          '',
          'Until you reply, the time to answer does not run.',
          '',
          `Request id: ${r.id}`,
          sign,
        ].join('\n'),
    },
    rejected: {
      subject: (r: R) => `Your request ${r.id} was declined`,
      text: (r: R, reason: string) =>
        [
          `We cannot act on your request for ${what(r)}.`,
          '',
          `Reason: ${reason}`,
          '',
          `Request id: ${r.id}`,
          sign,
        ].join('\n'),
    },
    expired: {
      subject: (r: R) => `Your request ${r.id} expired`,
      text: (r: R) =>
        [
          `Your request for ${what(r)} was never confirmed with the code we sent, so it has expired and nothing was done.`,
          'You are welcome to file it again.',
          '',
          `Request id: ${r.id}`,
          sign,
        ].join('\n'),
    },
    lifted: {
      subject: (r: R) => `The restriction of your data is being lifted (${r.id})`,
      text: (r: R, reason: string, options: { othersInForce: boolean }) =>
        [
          // Art. 18(3): sent before the restriction is lifted, so it says what is about to happen.
          options.othersInForce
            ? `The restriction of processing you asked for in request ${r.id} is being lifted. Another restriction of the same data is still in force, so its processing stays restricted until that one is lifted too.`
            : `The restriction of processing you asked for in request ${r.id} is being lifted: we will process this data again as before.`,
          '',
          `Reason: ${reason}`,
          sign,
        ].join('\n'),
    },
    completed: {
      subject: (r: R) => `Your request ${r.id} was answered`,
      text: (r: R, receipt: SignedRequestReceipt, downloadUrl: string | null) =>
        [
          `Your request for ${what(r)} is ${r.status === 'completed' ? 'complete' : 'partly complete'}.`,
          '',
          'What we did:',
          ...receipt.receipt.actions.map((a) => `- ${a}`),
          ...(receipt.receipt.kept.length > 0
            ? [
                '',
                'What we kept, and why:',
                ...receipt.receipt.kept.map((k) => `- ${k.what}: ${k.reason}`),
              ]
            : []),
          ...(downloadUrl
            ? ['', `Download your data (works once, for 7 days): ${downloadUrl}`]
            : []),
          '',
          `Request id: ${r.id}`,
          '',
          'Your signed receipt (Ed25519; verify it with our public key):',
          receiptMarkers.begin,
          JSON.stringify(receipt),
          receiptMarkers.end,
          sign,
        ].join('\n'),
    },
    forwardedToRequester: {
      subject: (r: R) => `Your request ${r.id} was passed to the controller`,
      text: (r: R) =>
        [
          `${tenant.name} processes this data on behalf of ${tenant.controller?.name ?? 'another organisation'}, who decides on your request for ${what(r)}.`,
          'We passed your request to them and will carry out what they decide.',
          '',
          `Request id: ${r.id}`,
          `Due date: ${due(r)}`,
          sign,
        ].join('\n'),
    },
    controller: {
      subject: (r: R) => `A data subject request for you to decide: ${r.id}`,
      text: (r: R, requester: { email: string; name?: string | undefined }, answerUrl: string) =>
        [
          `${tenant.name} processes personal data on your behalf. A person filed a request for ${what(r)} about data we hold for you; you, the controller, decide on it.`,
          '',
          `Request id: ${r.id}`,
          `Requester: ${requester.name ? `${requester.name} ` : ''}<${requester.email}> (identity verified)`,
          `Due date: ${due(r)}`,
          '',
          `Answer through the API (POST ${answerUrl} {"type":"rights_request.answer","timestamp":...,"data":{"requestId":"${r.id}","decision":"fulfil|reject|handled"}}, signed with your webhook secret) or reply to this e-mail.`,
        ].join('\n'),
    },
    reminder: {
      subject: (r: R, at: Date) =>
        r.dueAt < at ? `OVERDUE: request ${r.id}` : `Request ${r.id} is due on ${due(r)}`,
      text: (r: R, at: Date) =>
        [
          r.dueAt < at
            ? `Request ${r.id} (${r.type}) was due on ${due(r)} and is not answered.`
            : `Request ${r.id} (${r.type}) is due on ${due(r)}.`,
          `Status: ${r.status}`,
          '',
          `Show it: avow requests show ${r.id}`,
        ].join('\n'),
    },
  };
}
