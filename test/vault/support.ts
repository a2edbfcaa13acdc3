import type { RegisterInput } from '../../src/register/register-schema.js';
import type { TestAvow } from '../support/avow.js';

/** A small register: a contract purpose, a consent newsletter, a legitimate-interest analytics purpose. */
export const testRegister: RegisterInput = {
  avow: 1,
  policy: { version: '1', effective: '2026-01-01' },
  organisation: {
    name: 'Example Oy',
    privacyContact: { email: 'privacy@example.com' },
    supervisoryAuthority: { name: 'Tietosuojavaltuutettu', url: 'https://tietosuoja.fi' },
    roles: [{ role: 'controller', scope: 'own customers' }],
  },
  subjects: [{ key: 'customer' }, { key: 'prospect', parent: 'customer' }, { key: 'employee' }],
  categories: [
    { key: 'user.name' },
    { key: 'user.contact' },
    { key: 'user.contact.email' },
    { key: 'user.contact.phone_number' },
    { key: 'user.unique_id' },
    { key: 'user.financial' },
    { key: 'user.behavior' },
  ],
  purposes: [
    {
      key: 'service',
      name: 'Provide the service',
      uses: ['essential.service'],
      legalBasis: 'contract',
      categories: ['user.name', 'user.contact', 'user.unique_id', 'user.financial'],
      subjects: ['customer'],
      sources: ['subject'],
    },
    {
      key: 'newsletter',
      name: 'Newsletter',
      uses: ['marketing.communications'],
      legalBasis: 'consent',
      consent: { withdrawable: true },
      categories: ['user.name', 'user.contact.email'],
      subjects: ['customer'],
      sources: ['subject'],
      directMarketing: true,
      objectionStops: true,
    },
    {
      key: 'analytics',
      name: 'Product analytics',
      uses: ['analytics'],
      legalBasis: 'legitimate_interests',
      legitimateInterest: {
        interest: 'improve the product',
        balancing: 'pseudonymous, low impact',
      },
      categories: ['user.behavior'],
      subjects: ['customer'],
      sources: ['automatic'],
      retention: 'behavior_one_year',
    },
  ],
  retention: {
    rules: [
      {
        key: 'behavior_one_year',
        categories: ['user.behavior'],
        duration: 'P1Y',
        trigger: 'collected',
        action: 'delete',
      },
    ],
    statutoryKeeps: [
      {
        key: 'bookkeeping',
        categories: ['user.financial'],
        law: 'Accounting Act 1336/1997',
        duration: 'P10Y',
        trigger: 'contract_end',
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

/** Activates the test register for a tenant through PUT /v1/register; returns the version id. */
export async function activateTestRegister(avow: TestAvow, tenantId: string): Promise<string> {
  // JSON is YAML: the register travels as the document a user would push.
  const reply = await avow.call<{ version: { id: string } }>('PUT', '/v1/register', {
    rawBody: JSON.stringify(testRegister),
    headers: { 'content-type': 'application/yaml', 'avow-tenant': tenantId },
  });
  if (reply.status !== 201)
    throw new Error(`register not activated: ${reply.status} ${reply.text}`);
  return reply.body.version.id;
}
