import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import type { RetentionReport } from '../../src/retention/retention-service.js';
import type { TestAvow } from '../support/avow.js';

/** A report as it arrives over HTTP: the service's, with its time as a string. */
export type Report = Omit<RetentionReport, 'asOf'> & { asOf: string };
export type Item = {
  recordId: string;
  subjectId: string;
  category: string;
  rule: string;
  action: string;
  trigger: string | null;
  dueAt: string;
};
export type Preview = { dryRun: true; report: Report; items: Item[] };
export type Run = { id: string; status: string; startedBy: string; report: Report };
export type SubjectView = {
  subject: { id: string; status: string };
  records: { id: string; category: string }[];
};

/** Calls as one tenant's key. */
export function client(avow: TestAvow, token: string) {
  const call = <T>(method: string, path: string, body?: unknown) =>
    avow.call<T>(method, path, { token, body });
  return {
    call,
    async publish(register: unknown): Promise<void> {
      const yaml = typeof register === 'string' ? register : JSON.stringify(register);
      const reply = await call<unknown>('PUT', '/v1/register', { yaml });
      expect(reply.status, reply.text).toBe(201);
    },
    async subject(
      email: string,
      kind = 'customer',
      timestamps: Record<string, string> = {},
    ): Promise<string> {
      const reply = await call<{ subject: { id: string } }>('POST', '/v1/subjects', {
        kind,
        identities: [{ kind: 'email', value: email }],
      });
      expect(reply.status, reply.text).toBe(201);
      const id = reply.body.subject.id;
      if (Object.keys(timestamps).length > 0) {
        const patched = await call('PATCH', `/v1/subjects/${id}`, timestamps);
        expect(patched.status, patched.text).toBe(200);
      }
      return id;
    },
    async records(
      subjectId: string,
      records: { category: string; purposes: string[]; collectedAt: string; value?: unknown }[],
    ): Promise<string[]> {
      const reply = await call<{ records: { id: string }[] }>(
        'POST',
        `/v1/subjects/${subjectId}/records`,
        {
          records: records.map((r) => ({ value: r.value ?? 'x', source: 'subject', ...r })),
        },
      );
      expect(reply.status, reply.text).toBe(201);
      return reply.body.records.map((r) => r.id);
    },
    async preview(asOf?: string, limit = 1000): Promise<Preview> {
      const reply = await call<Preview>('POST', '/v1/retention/runs', {
        dryRun: true,
        ...(asOf ? { asOf } : {}),
        limit,
      });
      expect(reply.status, reply.text).toBe(200);
      return reply.body;
    },
    async sweep(): Promise<Run> {
      const reply = await call<Run>('POST', '/v1/retention/runs', {});
      expect(reply.status, reply.text).toBe(201);
      return reply.body;
    },
    async view(subjectId: string): Promise<SubjectView> {
      const reply = await call<SubjectView>('GET', `/v1/subjects/${subjectId}`);
      expect(reply.status, reply.text).toBe(200);
      return reply.body;
    },
  };
}

export function exampleRegister(name: string): string {
  return readFileSync(new URL(`../../examples/registers/${name}.yaml`, import.meta.url), 'utf8');
}

export const daysAgo = (days: number, from = new Date()) =>
  new Date(from.getTime() - days * 86_400_000).toISOString();

/** A register with one rule of each kind the boundary tests need. */
export const boundaryRegister = {
  avow: 1,
  policy: { version: '1', effective: '2025-01-01' },
  organisation: {
    name: 'Example Oy',
    privacyContact: { email: 'privacy@example.com' },
    supervisoryAuthority: { name: 'Tietosuojavaltuutettu', url: 'https://tietosuoja.fi' },
    roles: [{ role: 'controller', scope: 'own customers' }],
  },
  subjects: [{ key: 'customer' }],
  categories: [
    { key: 'user.name' },
    { key: 'user.contact.email' },
    { key: 'user.financial' },
    { key: 'user.behavior' },
    { key: 'user.device' },
  ],
  purposes: [
    {
      key: 'service',
      name: 'Service',
      uses: ['essential.service'],
      legalBasis: 'contract',
      categories: ['user.name', 'user.contact.email', 'user.financial'],
      subjects: ['customer'],
      sources: ['subject'],
    },
    {
      key: 'analytics',
      name: 'Analytics',
      uses: ['analytics'],
      legalBasis: 'legitimate_interests',
      legitimateInterest: { interest: 'improve the product', balancing: 'low impact' },
      categories: ['user.behavior', 'user.device'],
      subjects: ['customer'],
      sources: ['subject'],
    },
    {
      key: 'newsletter',
      name: 'Newsletter',
      uses: ['marketing.communications'],
      legalBasis: 'consent',
      consent: { withdrawable: true },
      categories: ['user.contact.email'],
      subjects: ['customer'],
      sources: ['subject'],
      directMarketing: true,
      objectionStops: true,
    },
  ],
  retention: {
    rules: [
      {
        key: 'usage',
        categories: ['user.behavior'],
        purposes: ['analytics'],
        duration: 'P1M',
        trigger: 'collected',
        action: 'delete',
      },
      {
        key: 'devices',
        categories: ['user.device'],
        duration: 'P10Y',
        trigger: 'collected',
        action: 'anonymize',
      },
      {
        key: 'accounts',
        purposes: ['service'],
        duration: 'P6M',
        trigger: 'relationship_end',
        action: 'delete',
      },
      {
        key: 'marketing',
        purposes: ['newsletter'],
        duration: 'P0D',
        trigger: 'consent_withdrawn',
        action: 'delete',
      },
    ],
    statutoryKeeps: [
      {
        key: 'bookkeeping',
        categories: ['user.financial'],
        law: 'Accounting Act 1336/1997',
        duration: 'P10Y',
        trigger: 'relationship_end',
      },
    ],
  },
  rights: {
    available: ['access', 'erasure', 'withdraw_consent'],
    deadline: 'P1M',
    verification: ['email_code'],
    channels: [{ type: 'email', address: 'privacy@example.com' }],
  },
  security: { measures: ['encryption at rest'] },
};
