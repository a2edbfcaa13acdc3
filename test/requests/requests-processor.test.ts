import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
let controller: Server;
let controllerUrl: string;
const received: { headers: Record<string, string>; body: string }[] = [];

beforeAll(async () => {
  smtp = await startSmtpServer();
  avow = await startTestAvow({ mail: { kind: 'smtp', url: smtp.url, from: 'privacy@x.test' } });
  // The controller's own system: it receives forwarded requests.
  controller = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        headers: req.headers as Record<string, string>,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      res.writeHead(204).end();
    });
  });
  controller.listen(0, '127.0.0.1');
  await once(controller, 'listening');
  const address = controller.address() as { port: number };
  controllerUrl = `http://127.0.0.1:${address.port}/avow-requests`;
});

afterAll(async () => {
  await avow?.close();
  await smtp?.close();
  controller?.close();
});

async function waitForWebhook(requestId: string) {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const hit = received.find((r) => r.body.includes(requestId));
    if (hit) return hit;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(
    `no webhook arrived; log:\n${avow
      .logs()
      .split('\n')
      .filter((l) => /job|webhook|error/i.test(l))
      .join('\n')}`,
  );
}

describe('a processor tenant', () => {
  it('forwards a verified request to its controller by a signed webhook and e-mail, and carries out the controller’s answer', async () => {
    const { tenantId, token } = await tenantWithRegister(avow, 'aize.yaml', 'processor');
    const route = await avow.call<{ secret: string; webhookUrl: string }>(
      'PUT',
      '/v1/requests/controller-route',
      {
        token,
        body: { webhookUrl: controllerUrl, email: 'privacy@customer.test' },
      },
    );
    expect(route.status, route.text).toBe(200);
    expect(route.body.secret).toMatch(/^whsec_/);
    const shownRoute = await avow.call<{ secret: string | null; hasSecret: boolean }>(
      'GET',
      '/v1/requests/controller-route',
      { token },
    );
    expect(shownRoute.body).toMatchObject({ secret: null, hasSecret: true });

    const email = 'user@customer.test';
    await subjectWithRecords(avow, token, {
      kind: 'customer.user',
      email,
      records: [{ category: 'user.name', value: 'Customer User', purposes: ['provide_service'] }],
    });
    const { filed, verified } = await fileAndVerify(avow, smtp, tenantId, {
      type: 'access',
      email,
    });
    expect(verified.status).toBe('forwarded');

    // The webhook verifies with the standardwebhooks package and the route's secret.
    const hook = await waitForWebhook(filed.id);
    const wh = new Webhook(route.body.secret);
    const payload = wh.verify(hook.body, hook.headers) as {
      type: string;
      data: { requestId: string; type: string; requester: { email: string }; answerUrl: string };
    };
    expect(payload.type).toBe('rights_request.forwarded');
    expect(payload.data).toMatchObject({
      requestId: filed.id,
      type: 'access',
      requester: { email },
    });
    // And by e-mail to the controller; the requester is told who decides.
    await smtp.waitFor(
      (m) => m.subject === `A data subject request for you to decide: ${filed.id}`,
    );
    await smtp.waitFor(
      (m) => m.subject === `Your request ${filed.id} was passed to the controller`,
    );

    // The operator cannot fulfil it behind the controller's back.
    const early = await avow.call('POST', `/v1/requests/${filed.id}/fulfil`, { token, body: {} });
    expect(early.status).toBe(409);

    // Answers are posted as the controller's system would: signed per Standard Webhooks.
    const path = new URL(payload.data.answerUrl).pathname;
    const now = new Date();
    const post = (signer: Webhook, messageId: string, data: Record<string, unknown>) => {
      const body = JSON.stringify({
        type: 'rights_request.answer',
        timestamp: now.toISOString(),
        data,
      });
      return fetch(`${avow.baseUrl}${path}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'webhook-id': messageId,
          'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
          'webhook-signature': signer.sign(messageId, now, body),
        },
        body,
      });
    };

    // A forged answer is refused.
    const forged = new Webhook(`whsec_${Buffer.alloc(32, 7).toString('base64')}`);
    const bad = await post(forged, 'msg_1', { decision: 'fulfil', requestId: filed.id });
    expect(bad.status).toBe(401);

    // An answer signed for another request (the signature covers the body, not the URL) is refused.
    const misdirected = await post(wh, 'msg_0', {
      decision: 'fulfil',
      requestId: 'req_01jzzzzzzzzzzzzzzzzzzzzzzz',
    });
    expect(misdirected.status).toBe(400);
    expect(
      ((await misdirected.json()) as { error: { details: { path: string }[] } }).error.details,
    ).toEqual([expect.objectContaining({ path: 'body.data.requestId' })]);

    // The controller answers: fulfil.
    const good = await post(wh, 'msg_2', { decision: 'fulfil', requestId: filed.id });
    expect(good.status, await good.clone().text()).toBe(200);
    expect(((await good.json()) as { status: string }).status).toBe('completed');

    const shown = await avow.call<RequestView>('GET', `/v1/requests/${filed.id}`, { token });
    expect(shown.body.timeline?.filter((t) => t.kind === 'status').map((t) => t.toStatus)).toEqual([
      'received',
      'identity_pending',
      'verified',
      'forwarded',
      'in_progress',
      'completed',
    ]);
    const forwardedAudit = await avow.call<{
      items: { action: string; payload: Record<string, unknown> }[];
    }>('GET', '/v1/audit?action=request.forwarded', { token });
    expect(forwardedAudit.status, forwardedAudit.text).toBe(200);
    expect(
      forwardedAudit.body.items
        .filter((e) => e.payload.rightsRequestId === filed.id)
        .map((e) => e.payload),
    ).toEqual([
      {
        rightsRequestId: filed.id,
        type: 'access',
        from: 'verified',
        controller: 'Customer Corp',
        webhook: true,
      },
    ]);
    const mail = await smtp.waitFor((m) => m.subject === `Your request ${filed.id} was answered`);
    expect(verifyRequestReceipt(receiptFrom(mail), avow.keys.publicKey)).toBe(true);
    const link = /Download your data[^:]*: (\S+)/.exec(mail.text ?? '')?.[1] as string;
    const files = await unzip(
      Buffer.from(await (await fetch(`${avow.baseUrl}${new URL(link).pathname}`)).arrayBuffer()),
    );
    expect(String(files.get('data.json'))).toContain('Customer User');
  });

  it('leaves the request forwarded when the controller’s fulfil is refused, so the controller can answer again', async () => {
    const { tenantId, token } = await tenantWithRegister(avow, 'aize.yaml', 'processor');
    const email = 'again@customer.test';
    await subjectWithRecords(avow, token, {
      kind: 'customer.user',
      email,
      records: [{ category: 'user.name', value: 'Again', purposes: ['provide_service'] }],
    });
    const { filed } = await fileAndVerify(avow, smtp, tenantId, { type: 'erasure', email });
    const answer = (body: unknown) =>
      avow.call<RequestView>('POST', `/v1/requests/${filed.id}/controller-answer`, { token, body });
    // Aize's register offers deletion only.
    const refused = await answer({
      decision: 'fulfil',
      options: { erasureMethod: 'pseudonymize' },
    });
    expect(refused.status).toBe(400);
    const still = await avow.call<RequestView>('GET', `/v1/requests/${filed.id}`, { token });
    expect(still.body.status).toBe('forwarded');
    const done = await answer({ decision: 'fulfil' });
    expect(done.status, done.text).toBe(200);
    expect(done.body.status).toBe('partially_completed');
  });

  it('lets the controller reject through the API with a reason the requester reads', async () => {
    const { tenantId, token } = await tenantWithRegister(avow, 'aize.yaml', 'processor');
    const { filed } = await fileAndVerify(avow, smtp, tenantId, {
      type: 'erasure',
      email: 'other@customer.test',
    });
    const rejected = await avow.call<RequestView>(
      'POST',
      `/v1/requests/${filed.id}/controller-answer`,
      {
        token,
        body: { decision: 'reject', reason: 'the account is under a legal hold' },
      },
    );
    expect(rejected.status, rejected.text).toBe(200);
    expect(rejected.body.status).toBe('rejected');
    const mail = await smtp.waitFor((m) => m.subject === `Your request ${filed.id} was declined`);
    expect(mail.text).toContain('the account is under a legal hold');
  });
});
