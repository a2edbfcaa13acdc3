import { createHash, createPublicKey } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifySignature } from '../../src/crypto/keyring.js';
import { manifestBytes } from '../../src/requests/requests-archive.js';
import { computeDueAt, dueDateOf } from '../../src/requests/requests-model.js';
import { verifyRequestReceipt } from '../../src/requests/requests-receipt.js';
import { startTestAvow, type TestAvow } from '../support/avow.js';
import { startSmtpServer } from '../support/smtp.js';
import {
  fileAndVerify,
  type RequestView,
  receiptFrom,
  type Smtp,
  subjectWithRecords,
  tenantWithRegister,
  unzip,
} from './support.js';

let avow: TestAvow;
let smtp: Smtp;

beforeAll(async () => {
  smtp = await startSmtpServer({ refuse: (address) => address.startsWith('nobody@') });
  avow = await startTestAvow({ mail: { kind: 'smtp', url: smtp.url, from: 'privacy@x.test' } });
});

afterAll(async () => {
  await avow?.close();
  await smtp?.close();
});

async function publicKey() {
  const reply = await avow.call<{ publicKeyPem: string }>('GET', '/v1/public/requests/public-key', {
    token: null,
  });
  expect(reply.status).toBe(200);
  return createPublicKey(reply.body.publicKeyPem);
}

describe('access under Aiwo (one calendar month)', () => {
  it('files as a person, verifies from the e-mail, fulfils, downloads the archive once and verifies the receipt', async () => {
    const { tenantId, token } = await tenantWithRegister(avow, 'aiwo.yaml');
    const subjectId = await subjectWithRecords(avow, token, {
      kind: 'customer.user',
      email: 'maija@example.fi',
      records: [
        {
          category: 'user.name',
          value: 'Maija Meikäläinen',
          purposes: ['service_access', 'support'],
        },
        {
          category: 'user.contact.phone_number',
          value: '+358401234567',
          purposes: ['service_access'],
        },
      ],
    });
    // Someone in the tenant reads the data: it shows in "who accessed my data".
    const read = await avow.call('GET', `/v1/subjects/${subjectId}/data?purpose=service_access`, {
      token,
    });
    expect(read.status, read.text).toBe(200);

    const { filed, verified } = await fileAndVerify(avow, smtp, tenantId, {
      type: 'access',
      email: 'Maija@Example.fi',
      name: 'Maija',
    });
    expect(verified.status).toBe('verified');

    const shown = await avow.call<RequestView>('GET', `/v1/requests/${filed.id}`, { token });
    expect(shown.status).toBe(200);
    expect(shown.body.deadline).toBe('P1M');
    expect(shown.body.dueDate).toBe(
      dueDateOf(computeDueAt({ receivedAt: new Date(shown.body.receivedAt), deadline: 'P1M' })),
    );
    expect(shown.body.overdue).toBe(false);
    expect(shown.body.verificationMethod).toBe('email_code');
    expect(shown.body.timeline?.filter((t) => t.kind === 'status').map((t) => t.toStatus)).toEqual([
      'received',
      'identity_pending',
      'verified',
    ]);

    const done = await avow.call<RequestView>('POST', `/v1/requests/${filed.id}/fulfil`, {
      token,
      body: {},
    });
    expect(done.status, done.text).toBe(200);
    expect(done.body.status).toBe('completed');
    expect(done.body.subjectId).toBe(subjectId);

    const mail = await smtp.waitFor((m) => m.subject === `Your request ${filed.id} was answered`);
    const link = /Download your data[^:]*: (\S+)/.exec(mail.text ?? '')?.[1];
    expect(link).toBeDefined();
    const path = new URL(link as string).pathname;
    const download = await fetch(`${avow.baseUrl}${path}`);
    expect(download.status).toBe(200);
    expect(download.headers.get('content-type')).toBe('application/zip');
    const files = await unzip(Buffer.from(await download.arrayBuffer()));
    expect([...files.keys()].sort()).toEqual(
      [
        'access-log.json',
        'categories/user.contact.phone_number.csv',
        'categories/user.name.csv',
        'consent-history.json',
        'data.json',
        'manifest.json',
      ].sort(),
    );
    const data = JSON.parse(String(files.get('data.json'))) as {
      identities: { kind: string; value: string }[];
      categories: {
        key: string;
        records: {
          value: unknown;
          source: { type: string };
          purposes: { key: string; legalBasis: string }[];
          legalBases: string[];
          retention: string[];
        }[];
      }[];
    };
    expect(data.identities).toEqual([{ kind: 'email', value: 'maija@example.fi' }]);
    const name = data.categories.find((c) => c.key === 'user.name');
    expect(name?.records[0]?.value).toBe('Maija Meikäläinen');
    expect(name?.records[0]?.source).toEqual({ type: 'subject' });
    expect(name?.records[0]?.legalBases).toEqual(['contract']);
    expect(name?.records[0]?.purposes.map((p) => p.key)).toEqual(['service_access', 'support']);
    expect(String(files.get('categories/user.name.csv'))).toContain('Maija Meikäläinen');
    const accessLog = JSON.parse(String(files.get('access-log.json'))) as {
      action: string;
      purpose: string | null;
    }[];
    expect(
      accessLog.some((e) => e.action === 'subject.read' && e.purpose === 'service_access'),
    ).toBe(true);

    // The manifest lists every other file with its hash, signed with the installation key.
    const signed = JSON.parse(String(files.get('manifest.json'))) as {
      manifest: { files: { name: string; sha256: string }[] };
      signature: { value: string };
    };
    for (const entry of signed.manifest.files) {
      expect(
        createHash('sha256')
          .update(files.get(entry.name) as Buffer)
          .digest('hex'),
      ).toBe(entry.sha256);
    }
    const key = await publicKey();
    expect(
      verifySignature(
        manifestBytes(signed.manifest),
        Buffer.from(signed.signature.value, 'base64'),
        key,
      ),
    ).toBe(true);

    // One time only.
    const again = await fetch(`${avow.baseUrl}${path}`);
    expect(again.status).toBe(410);

    const receipt = receiptFrom(mail);
    expect(receipt.receipt.requestId).toBe(filed.id);
    expect(receipt.receipt.status).toBe('completed');
    expect(verifyRequestReceipt(receipt, key)).toBe(true);
    expect(
      verifyRequestReceipt(
        { ...receipt, receipt: { ...receipt.receipt, actions: ['nothing'] } },
        key,
      ),
    ).toBe(false);

    // Every transition is in the audit log, each under its own action.
    const audit = await avow.call<{
      items: {
        action: string;
        payload: { rightsRequestId?: string; status?: string; from?: string; to?: string };
      }[];
    }>(
      'GET',
      '/v1/audit?action=request.created,request.transitioned,request.verified,request.forwarded,request.extended,request.completed,request.rejected,request.expired&limit=100',
      { token },
    );
    expect(audit.status, audit.text).toBe(200);
    const moves = audit.body.items
      .filter((e) => e.payload.rightsRequestId === filed.id)
      .reverse()
      .map((e) =>
        e.action === 'request.transitioned'
          ? `${e.action} ${e.payload.from}->${e.payload.to}`
          : `${e.action} ${e.payload.from ?? '-'}->${e.payload.status}`,
      );
    expect(moves).toEqual([
      'request.created -->received',
      'request.transitioned received->identity_pending',
      'request.verified identity_pending->verified',
      'request.transitioned verified->in_progress',
      'request.completed in_progress->completed',
    ]);
  });

  it('refuses a wrong code and counts tries; a duplicate is closed only once its requester has the code', async () => {
    const { tenantId, token } = await tenantWithRegister(avow, 'aiwo.yaml');
    const filed = await avow.call<{ id: string }>(
      'POST',
      `/v1/public/tenants/${tenantId}/requests`,
      {
        token: null,
        body: { type: 'erasure', email: 'pekka@example.fi' },
      },
    );
    expect(filed.status).toBe(202);
    const duplicate = await avow.call<{ error: { code: string } }>(
      'POST',
      `/v1/public/tenants/${tenantId}/requests`,
      {
        token: null,
        body: { type: 'erasure', email: 'PEKKA@example.fi' },
      },
    );
    // Whether an address has a request open is not told to whoever files: the
    // duplicate is taken like any request, and the e-mail's owner learns of the first.
    expect(duplicate.status).toBe(202);
    expect(duplicate.text).not.toContain(filed.body.id);
    const wrong = await avow.call<{ error: { details: { message: string }[] } }>(
      'POST',
      `/v1/public/tenants/${tenantId}/requests/${filed.body.id}/verify`,
      {
        token: null,
        body: { code: '00000000' },
      },
    );
    expect(wrong.status).toBe(422);
    expect(wrong.body.error.details[0]?.message).toBe('4 tries left');
    // The code is not stored in clear: nothing in the row or the logs holds it.
    const ack = await smtp.waitFor(
      (m) => m.subject === `Your request ${filed.body.id} was received`,
    );
    const code = /enter this code: (\d{8})/.exec(ack.text ?? '')?.[1] as string;
    expect(avow.logs()).not.toContain(code);
    expect(avow.logs()).not.toContain('pekka@example.fi');
    // A right the register does not offer is refused with what it offers.
    const notOffered = await avow.call<{ error: { details: { path: string; message: string }[] } }>(
      'POST',
      `/v1/public/tenants/${tenantId}/requests`,
      {
        token: null,
        body: { type: 'withdraw_consent', email: 'pekka@example.fi' },
      },
    );
    expect(notOffered.status).toBe(400);
    expect(notOffered.body.error.details[0]?.path).toBe('body.type');
    // An illegal transition is a 409 that says what may follow.
    const illegal = await avow.call<{ error: { code: string; details: { message: string }[] } }>(
      'POST',
      `/v1/requests/${filed.body.id}/transition`,
      {
        token,
        body: { to: 'completed', summary: 'done' },
      },
    );
    expect(illegal.status).toBe(409);
    expect(illegal.body.error.details[0]?.message).toContain('verified, expired, rejected');

    // The first request is confirmed with a new code; then the duplicate's own code closes it.
    const codeOf = async (id: string, count = 1) => {
      const mails = await (async () => {
        const deadline = Date.now() + 10_000;
        for (;;) {
          const found = smtp.messages.filter(
            (m) => m.subject?.includes(id) && /enter this code/.test(m.text ?? ''),
          );
          if (found.length >= count || Date.now() > deadline) return found;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      })();
      return /enter this code: (\d{8})/.exec(mails.at(-1)?.text ?? '')?.[1] as string;
    };
    const duplicateId = (duplicate.body as unknown as { id: string }).id;
    const confirmFirst = await avow.call<RequestView>(
      'POST',
      `/v1/public/tenants/${tenantId}/requests/${filed.body.id}/verify`,
      { token: null, body: { code: await codeOf(filed.body.id) } },
    );
    expect(confirmFirst.status, confirmFirst.text).toBe(200);
    expect(confirmFirst.body.status).toBe('verified');
    const confirmSecond = await avow.call<RequestView>(
      'POST',
      `/v1/public/tenants/${tenantId}/requests/${duplicateId}/verify`,
      { token: null, body: { code: await codeOf(duplicateId) } },
    );
    expect(confirmSecond.status, confirmSecond.text).toBe(200);
    expect(confirmSecond.body.status).toBe('rejected');
    const second = await avow.call<RequestView>('GET', `/v1/requests/${duplicateId}`, { token });
    expect(second.body.statusReason).toContain(filed.body.id);
    const told = await smtp.waitFor(
      (m) => m.subject === `Your request ${duplicateId} was declined`,
    );
    expect(told.text).toContain(filed.body.id);
    // Through the API the tenant is told at once, with the open request's id.
    const byApi = await avow.call<{ error: { details: { message: string }[] } }>(
      'POST',
      '/v1/requests',
      { token, body: { type: 'erasure', email: 'pekka@example.fi' } },
    );
    expect(byApi.status).toBe(409);
    expect(byApi.body.error.details[0]?.message).toBe(`open request: ${filed.body.id}`);
  });

  it('keeps the address out of the log when the mail server refuses it', async () => {
    const { tenantId } = await tenantWithRegister(avow, 'aiwo.yaml');
    const filed = await avow.call<{ id: string }>(
      'POST',
      `/v1/public/tenants/${tenantId}/requests`,
      {
        token: null,
        body: { type: 'access', email: 'nobody@example.fi' },
      },
    );
    expect(filed.status).toBe(202);
    const failed = avow
      .logs()
      .split('\n')
      .filter(Boolean)
      .map(
        (line) =>
          JSON.parse(line) as { msg?: string; rightsRequestId?: string; err?: { message: string } },
      )
      .find(
        (line) =>
          line.rightsRequestId === filed.body.id &&
          line.msg === 'a rights request e-mail could not be sent',
      );
    expect(failed?.err?.message).toContain('SMTP 550');
    expect(avow.logs()).not.toContain('nobody@example.fi');
  });

  it('answers a complaint with the supervisory authority', async () => {
    const { tenantId } = await tenantWithRegister(avow, 'aiwo.yaml');
    const reply = await avow.call<{ authority: { name: string; url: string } }>(
      'POST',
      `/v1/public/tenants/${tenantId}/requests`,
      {
        token: null,
        body: { type: 'complaint', email: 'someone@example.fi' },
      },
    );
    expect(reply.status).toBe(200);
    expect(reply.body.authority.url).toMatch(/^https:\/\//);
  });
});
