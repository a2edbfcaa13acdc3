import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAvow, type TestAvow } from '../support/avow.js';
import { startSmtpServer } from '../support/smtp.js';
import {
  type RequestView,
  receiptFrom,
  type Smtp,
  subjectWithRecords,
  tenantWithRegister,
} from './support.js';

let avow: TestAvow;
let smtp: Smtp;

beforeAll(async () => {
  smtp = await startSmtpServer();
  avow = await startTestAvow({ mail: { kind: 'smtp', url: smtp.url, from: 'privacy@x.test' } });
});

afterAll(async () => {
  await avow?.close();
  await smtp?.close();
});

/** The demo register keeps user.name and user.payment by law; email and account data it deletes. */
async function customer(token: string, email: string) {
  return subjectWithRecords(avow, token, {
    kind: 'customer',
    email,
    records: [
      { category: 'user.contact.email', value: email, purposes: ['service'] },
      { category: 'user.account', value: { plan: 'pro' }, purposes: ['service'] },
    ],
  });
}

async function hold(token: string, body: { scope: string; target?: string; reason: string }) {
  const placed = await avow.call<{ id: string }>('POST', '/v1/legal-holds', { token, body });
  expect(placed.status, placed.text).toBe(201);
  return placed.body.id;
}

async function eraseByRequest(token: string, email: string) {
  const created = await avow.call<RequestView>('POST', '/v1/requests', {
    token,
    body: { type: 'erasure', email },
  });
  expect(created.status, created.text).toBe(201);
  const done = await avow.call<RequestView>('POST', `/v1/requests/${created.body.id}/fulfil`, {
    token,
    body: {},
  });
  expect(done.status, done.text).toBe(200);
  const mail = await smtp.waitFor(
    (m) => m.subject === `Your request ${created.body.id} was answered`,
  );
  return { view: done.body, receipt: receiptFrom(mail).receipt, mail };
}

const keptLines = (kept: { what: string; reason: string }[]) =>
  kept.map((k) => `${k.what}: ${k.reason}`);

describe('erasure requests and legal holds', () => {
  it('keeps a held category (pseudonymising the rest) and names the hold and its reason', async () => {
    const { token } = await tenantWithRegister(avow, 'demo.yaml');
    const email = 'held-category@example.fi';
    const subjectId = await customer(token, email);
    const holdId = await hold(token, {
      scope: 'category',
      target: 'user.account',
      reason: 'litigation: contract dispute 2026-17',
    });

    const { view, receipt, mail } = await eraseByRequest(token, email);
    expect(view.status).toBe('partially_completed');
    expect(keptLines(receipt.kept)).toContain(
      `data of category user.account: legal hold ${holdId}: litigation: contract dispute 2026-17`,
    );
    expect(keptLines(receipt.kept).join('\n')).not.toContain('user.contact.email');
    expect(mail.text).toContain('litigation: contract dispute 2026-17');

    // The held record is still there (pseudonymised subject); the e-mail record is gone.
    const subject = await avow.call<{
      subject: { status: string };
      records: { category: string }[];
    }>('GET', `/v1/subjects/${subjectId}`, { token });
    expect(subject.status, subject.text).toBe(200);
    expect(subject.body.subject.status).toBe('pseudonymized');
    expect(subject.body.records.map((r) => r.category)).toEqual(['user.account']);
  });

  it('keeps everything of a held subject, lists the hold, and erases once it is released', async () => {
    const { token } = await tenantWithRegister(avow, 'demo.yaml');
    const email = 'held-subject@example.fi';
    const subjectId = await customer(token, email);
    const holdId = await hold(token, {
      scope: 'subject',
      target: subjectId,
      reason: 'preserved for the tax audit 2026',
    });

    const first = await eraseByRequest(token, email);
    expect(first.view.status).toBe('partially_completed');
    expect(keptLines(first.receipt.kept)).toContain(
      `all your data: legal hold ${holdId}: preserved for the tax audit 2026`,
    );
    const still = await avow.call<{ subject: { status: string } }>(
      'GET',
      `/v1/subjects/${subjectId}`,
      { token },
    );
    expect(still.body.subject.status).toBe('active');

    const released = await avow.call('POST', `/v1/legal-holds/${holdId}/release`, {
      token,
      body: { reason: 'audit closed' },
    });
    expect(released.status, released.text).toBe(200);
    const second = await eraseByRequest(token, email);
    expect(second.view.status).toBe('completed');
    expect(keptLines(second.receipt.kept).join('\n')).not.toContain('legal hold');
    const gone = await avow.call<{ subject: { status: string } }>(
      'GET',
      `/v1/subjects/${subjectId}`,
      { token },
    );
    expect(gone.body.subject.status).toBe('erased');
  });
});
