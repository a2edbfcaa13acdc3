import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyExportFile } from '../../src/audit/audit-offline.js';
import { startTestAvow, type TestAvow } from '../support/avow.js';
import { startSmtpServer } from '../support/smtp.js';
import { type RequestView, type Smtp, subjectWithRecords, tenantWithRegister } from './support.js';

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

type AuditEntry = {
  action: string;
  subjectId: string | null;
  payload: Record<string, unknown>;
  personal: Record<string, unknown>;
  personalState: string;
};

describe('reasons written on rights requests, in the audit log', () => {
  it('are sealed with the subject’s data, so erasing the subject erases them from the log, which still verifies', async () => {
    const { token } = await tenantWithRegister(avow, 'demo.yaml');
    const email = 'john@example.com';
    const subjectId = await subjectWithRecords(avow, token, {
      kind: 'customer',
      email,
      records: [{ category: 'user.contact.email', value: email, purposes: ['newsletter'] }],
    });
    const reason = (what: string) => `SEALED-${what}: John’s ID card photo was blurry`;
    const move = async (id: string, body: Record<string, unknown>) => {
      const moved = await avow.call<RequestView>('POST', `/v1/requests/${id}/transition`, {
        token,
        body,
      });
      expect(moved.status, moved.text).toBe(200);
    };
    const file = async (body: Record<string, unknown>) => {
      const created = await avow.call<RequestView>('POST', '/v1/requests', { token, body });
      expect(created.status, created.text).toBe(201);
      return created.body.id;
    };

    // Extended, waiting for the requester, then rejected; and one closed in part by hand.
    const access = await file({ type: 'access', email, subjectId });
    const extended = await avow.call('POST', `/v1/requests/${access}/extend`, {
      token,
      body: { duration: 'P1M', reason: reason('extended') },
    });
    expect(extended.status, extended.text).toBe(200);
    await move(access, { to: 'in_progress' });
    await move(access, { to: 'awaiting_requester', reason: reason('awaiting') });
    await move(access, { to: 'in_progress' });
    await move(access, { to: 'rejected', reason: reason('rejected') });
    const erasure = await file({ type: 'erasure', email, subjectId });
    await move(erasure, {
      to: 'partially_completed',
      summary: 'newsletter address deleted',
      reason: reason('partial'),
    });
    // A request with no subject: its reason is sealed under the acting key's own key.
    const stranger = await file({ type: 'access', email: 'stranger@example.com' });
    await move(stranger, { to: 'rejected', reason: 'UNLINKED: not a customer of ours' });

    const requestEvents = async () => {
      const page = await avow.call<{ items: AuditEntry[] }>('GET', '/v1/audit?limit=500', {
        token,
      });
      expect(page.status, page.text).toBe(200);
      return {
        text: page.text,
        items: page.body.items.filter((e) => e.action.startsWith('request.')),
      };
    };
    const before = await requestEvents();
    const reasons = (items: AuditEntry[]) =>
      items
        .filter((e) => e.subjectId === subjectId)
        .map((e) => e.personal.reason)
        .filter((r) => r !== undefined)
        .sort();
    expect(reasons(before.items)).toEqual(
      ['awaiting', 'extended', 'partial', 'rejected'].map(reason),
    );
    // Not in clear: only in the sealed part, opened for the reader, as identities are.
    expect(before.items.filter((e) => 'reason' in e.payload)).toEqual([]);
    expect(
      before.items
        .filter((e) => e.personal.reason !== undefined)
        .map((e) => [e.action, e.personalState]),
    ).toEqual([
      ['request.rejected', 'sealed'],
      ['request.completed', 'sealed'],
      ['request.rejected', 'sealed'],
      ['request.transitioned', 'sealed'],
      ['request.extended', 'sealed'],
    ]);

    const erased = await avow.call('POST', `/v1/subjects/${subjectId}/erase`, { token, body: {} });
    expect(erased.status, erased.text).toBe(200);

    const after = await requestEvents();
    expect(after.text).not.toContain('SEALED-');
    expect(reasons(after.items)).toEqual([]);
    expect(
      new Set(after.items.filter((e) => e.subjectId === subjectId).map((e) => e.personalState)),
    ).toEqual(new Set(['erased']));
    // The request with no subject keeps its reason (sealed, but no erasure reaches it).
    expect(
      after.items.find(
        (e) => e.payload.rightsRequestId === stranger && e.action === 'request.rejected',
      ),
    ).toMatchObject({
      payload: { rightsRequestId: stranger, from: 'verified', status: 'rejected' },
      personal: { reason: 'UNLINKED: not a customer of ours' },
      personalState: 'sealed',
    });

    const exported = async (format: 'jsonl' | 'csv') => {
      const response = await fetch(`${avow.baseUrl}/v1/audit/export?format=${format}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(response.status).toBe(200);
      return response.text();
    };
    const jsonl = await exported('jsonl');
    expect(jsonl).toContain(`"rightsRequestId":"${access}"`);
    expect(jsonl).not.toContain('SEALED-');
    expect(await exported('csv')).not.toContain('SEALED-');

    // The chain still verifies, on the server and offline from the export.
    const verified = await avow.call<{ ok: boolean }>('GET', '/v1/audit/verify', { token });
    expect(verified.body.ok, verified.text).toBe(true);
    const dir = mkdtempSync(path.join(tmpdir(), 'avow-audit-reasons-'));
    writeFileSync(path.join(dir, 'audit.jsonl'), jsonl);
    const key = await avow.call('GET', '/v1/audit/public-key', { token: null });
    expect(await verifyExportFile(path.join(dir, 'audit.jsonl'), key.text)).toMatchObject({
      ok: true,
    });
  });
});
