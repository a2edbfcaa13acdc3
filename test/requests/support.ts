import { readFileSync } from 'node:fs';
import type { ParsedMail } from 'mailparser';
import { expect } from 'vitest';
import yauzl from 'yauzl';
import { receiptMarkers, type SignedRequestReceipt } from '../../src/requests/requests-receipt.js';
import type { TestAvow } from '../support/avow.js';
import type { startSmtpServer } from '../support/smtp.js';

export type Smtp = Awaited<ReturnType<typeof startSmtpServer>>;

export type PublicRequest = {
  id: string;
  type: string;
  status: string;
  dueDate: string;
  verification: string;
};

export type RequestView = {
  id: string;
  type: string;
  status: string;
  subjectId: string | null;
  deadline: string;
  receivedAt: string;
  dueAt: string;
  dueDate: string;
  overdue: boolean;
  paused: boolean;
  extension: string | null;
  statusReason: string | null;
  outcome: { actions: string[]; kept: { what: string; reason: string }[] } | null;
  receipt: SignedRequestReceipt | null;
  timeline:
    | { kind: string; fromStatus: string | null; toStatus: string | null; message: string }[]
    | null;
  verificationMethod: string | null;
};

/** A tenant with an admin key and one of the example registers active (PUT /v1/register). */
export async function tenantWithRegister(
  avow: TestAvow,
  file: string,
  role: 'controller' | 'processor' = 'controller',
) {
  const { tenantId, token } = await avow.tenantWithKey(['admin']);
  if (role === 'processor') {
    const updated = await avow.call('PATCH', `/v1/tenants/${tenantId}`, {
      body: {
        role: 'processor',
        controller: { name: 'Customer Corp', email: 'dpo@customer.test' },
      },
    });
    expect(updated.status).toBe(200);
  }
  const yaml = readFileSync(new URL(`../../examples/registers/${file}`, import.meta.url), 'utf8');
  const put = await avow.call('PUT', '/v1/register', { token, body: { yaml } });
  expect(put.status, put.text).toBe(201);
  return { tenantId, token };
}

export async function subjectWithRecords(
  avow: TestAvow,
  token: string,
  input: {
    kind: string;
    email: string;
    records: { category: string; value: unknown; source?: unknown; purposes: string[] }[];
  },
): Promise<string> {
  const created = await avow.call<{ subject: { id: string } }>('POST', '/v1/subjects', {
    token,
    body: { kind: input.kind, identities: [{ kind: 'email', value: input.email }] },
  });
  expect(created.status, created.text).toBe(201);
  const id = created.body.subject.id;
  const written = await avow.call('POST', `/v1/subjects/${id}/records`, {
    token,
    body: { records: input.records.map((r) => ({ source: 'subject', ...r })) },
  });
  expect(written.status, written.text).toBe(201);
  return id;
}

/** Files a request as a person, reads the code from the e-mail and enters it. */
export async function fileAndVerify(
  avow: TestAvow,
  smtp: Smtp,
  tenantId: string,
  body: Record<string, unknown>,
): Promise<{ filed: PublicRequest; verified: PublicRequest; ack: ParsedMail }> {
  const filed = await avow.call<PublicRequest>('POST', `/v1/public/tenants/${tenantId}/requests`, {
    token: null,
    body,
  });
  expect(filed.status, filed.text).toBe(202);
  expect(filed.body.status).toBe('identity_pending');
  const ack = await smtp.waitFor((m) => m.subject === `Your request ${filed.body.id} was received`);
  expect(ack.text).toContain(`Due date: ${filed.body.dueDate}`);
  const code = /enter this code: (\d{8})/.exec(ack.text ?? '')?.[1];
  expect(code).toBeDefined();
  const verified = await avow.call<PublicRequest>(
    'POST',
    `/v1/public/tenants/${tenantId}/requests/${filed.body.id}/verify`,
    {
      token: null,
      body: { code },
    },
  );
  expect(verified.status, verified.text).toBe(200);
  return { filed: filed.body, verified: verified.body, ack };
}

export function receiptFrom(mail: ParsedMail): SignedRequestReceipt {
  const text = mail.text ?? '';
  const start = text.indexOf(receiptMarkers.begin);
  const end = text.indexOf(receiptMarkers.end);
  expect(start).toBeGreaterThan(-1);
  return JSON.parse(
    text.slice(start + receiptMarkers.begin.length, end).trim(),
  ) as SignedRequestReceipt;
}

export function unzip(buffer: Buffer): Promise<Map<string, Buffer>> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(buffer, { lazyEntries: true }, (error, zip) => {
      if (error || !zip) return reject(error);
      const files = new Map<string, Buffer>();
      zip.on('entry', (entry: yauzl.Entry) => {
        zip.openReadStream(entry, (err, stream) => {
          if (err || !stream) return reject(err);
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('end', () => {
            files.set(entry.fileName, Buffer.concat(chunks));
            zip.readEntry();
          });
        });
      });
      zip.on('end', () => resolve(files));
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}
