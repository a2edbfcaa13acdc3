import { newId } from '../../src/ids/ids.js';
import { type RegisterInput, registerSchema } from '../../src/register/register-schema.js';
import { insertVersion, setActive } from '../../src/register/register-store.js';
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
    available: ['access', 'erasure'],
    deadline: 'P1M',
    verification: ['email_code'],
    channels: [{ type: 'email', address: 'privacy@example.com' }],
  },
  security: { measures: ['encryption at rest'] },
};

/**
 * Activates the register for a tenant through the register capability's store.
 * TODO(vault): switch to PUT /v1/register once the register routes land.
 */
export async function activateTestRegister(avow: TestAvow, tenantId: string): Promise<void> {
  const register = registerSchema.parse(testRegister);
  const db = avow.database.db;
  const id = newId('registerVersion');
  await insertVersion(db, {
    id,
    tenantId,
    number: 1,
    contentHash: 'test',
    yaml: JSON.stringify(testRegister),
    register,
    createdBy: null,
  });
  await setActive(db, tenantId, id, null, new Date());
  avow.services.policies.forget(tenantId);
}
