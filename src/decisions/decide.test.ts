import { describe, expect, it } from 'vitest';
import { testRegister } from '../../test/vault/support.js';
import { registerSchema } from '../register/register-schema.js';
import { compilePolicy, decide, type SubjectFacts } from './decide.js';

const now = new Date('2026-06-01T00:00:00Z');
const base: SubjectFacts = {
  id: 'sub_1',
  kind: 'customer',
  status: 'active',
  retainedCategories: null,
  restrictedAt: null,
  lastActivityAt: null,
  relationshipStartedAt: null,
  relationshipEndedAt: null,
  contractEndedAt: null,
  roleEndedAt: null,
  accountDeletedAt: null,
};

const withCondition = registerSchema.parse({
  ...testRegister,
  purposes: [
    ...(testRegister.purposes ?? []),
    {
      key: 'offers',
      name: 'Offers',
      uses: ['marketing.communications'],
      legalBasis: 'legitimate_interests',
      legitimateInterest: {
        interest: 'tell customers about offers',
        balancing: 'expected by customers',
      },
      basisCondition: { when: 'customer_relationship', otherwise: 'consent' },
      categories: ['user.contact.email'],
      subjects: ['customer'],
      sources: ['subject'],
      directMarketing: true,
    },
  ],
});
const policy = compilePolicy(withCondition, '3');

describe('decide', () => {
  it('uses the basis condition: legitimate interest for current customers, consent otherwise (Aize)', () => {
    const current = { ...base, relationshipStartedAt: new Date('2025-01-01') };
    expect(
      decide(
        policy,
        'sub_1',
        { subject: current, purpose: null, lastCollected: {} },
        'offers',
        undefined,
        now,
      ),
    ).toMatchObject({ allowed: true, legalBasis: 'legitimate_interests', registerVersion: '3' });
    const lead = decide(
      policy,
      'sub_1',
      { subject: base, purpose: null, lastCollected: {} },
      'offers',
      undefined,
      now,
    );
    expect(lead).toMatchObject({
      allowed: false,
      legalBasis: 'consent',
      reasons: ['consent_missing'],
    });
  });

  it('stops direct marketing on any objection, and covers custom subjects through their parent', () => {
    const prospect = { ...base, kind: 'prospect', relationshipStartedAt: new Date('2025-01-01') };
    const objected = {
      consent: null,
      consentAt: null,
      objectedAt: new Date('2026-01-01'),
      restrictedAt: null,
      fulfilledAt: null,
    };
    expect(
      decide(
        policy,
        'sub_1',
        { subject: prospect, purpose: objected, lastCollected: {} },
        'offers',
        undefined,
        now,
      ).reasons,
    ).toEqual(['objected']);
    expect(
      decide(
        policy,
        'sub_1',
        { subject: prospect, purpose: null, lastCollected: {} },
        'offers',
        undefined,
        now,
      ).allowed,
    ).toBe(true);
  });

  it('denies a pseudonymised subject the categories it no longer has', () => {
    const pseudo = {
      ...base,
      status: 'pseudonymized' as const,
      retainedCategories: ['user.financial'],
    };
    const out = decide(
      policy,
      'sub_1',
      { subject: pseudo, purpose: null, lastCollected: {} },
      'service',
      ['user.financial', 'user.name'],
      now,
    );
    expect(out.categories).toEqual([
      { category: 'user.financial', allowed: true, reasons: [] },
      { category: 'user.name', allowed: false, reasons: ['erased'] },
    ]);
  });

  it('keeps a restriction off legal-obligation purposes only', () => {
    const restricted = { ...base, restrictedAt: new Date('2026-01-01') };
    expect(
      decide(
        policy,
        'sub_1',
        { subject: restricted, purpose: null, lastCollected: {} },
        'service',
        undefined,
        now,
      ).reasons,
    ).toEqual(['restricted']);
  });

  it('stops a purpose once it is fulfilled for the subject, and starts purpose_fulfilled retention then', () => {
    const kept = compilePolicy(
      registerSchema.parse({
        ...testRegister,
        retention: {
          ...testRegister.retention,
          rules: [
            ...(testRegister.retention?.rules ?? []),
            {
              key: 'order_data',
              purposes: ['service'],
              categories: ['user.name'],
              duration: 'P30D',
              trigger: 'purpose_fulfilled',
              action: 'delete',
            },
          ],
        },
      }),
      '4',
    );
    const ask = (fulfilledAt: Date | null, purpose = 'service') =>
      decide(
        kept,
        'sub_1',
        {
          subject: base,
          purpose: {
            consent: null,
            consentAt: null,
            objectedAt: null,
            restrictedAt: null,
            fulfilledAt,
          },
          lastCollected: {},
        },
        purpose,
        ['user.name', 'user.financial'],
        now,
      );
    // Not yet fulfilled (or only later): the purpose runs.
    expect(ask(null).allowed).toBe(true);
    expect(ask(new Date('2026-07-01')).allowed).toBe(true);
    // Fulfilled a week ago: the purpose stops; its 30-day rule has not run out.
    const week = ask(new Date('2026-05-25'));
    expect(week.allowed).toBe(false);
    expect(week.categories).toEqual([
      { category: 'user.name', allowed: false, reasons: ['purpose_fulfilled'] },
      { category: 'user.financial', allowed: false, reasons: ['purpose_fulfilled'] },
    ]);
    // Fulfilled 30 days ago: user.name has reached its retention as well.
    expect(ask(new Date('2026-05-02')).categories[0]?.reasons).toEqual([
      'purpose_fulfilled',
      'retention_expired',
    ]);
  });
});
