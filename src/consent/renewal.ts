import type { RegisterDiff } from '../register/diff.js';
import type { Purpose, Register } from '../register/register-schema.js';

function reliesOnConsent(purpose: Purpose): boolean {
  return (
    purpose.legalBasis === 'consent' ||
    purpose.additionalBases.includes('consent') ||
    purpose.basisCondition?.otherwise === 'consent'
  );
}

/**
 * Which consent purposes a newly activated register asks people to confirm
 * again: a material change to the purpose itself, or a material change to
 * whom data goes or where it is kept (recipients, storage), which every
 * consent given so far did not cover.
 */
export function purposesNeedingRenewal(
  register: Register,
  diff: RegisterDiff | undefined,
): string[] {
  if (!diff?.material) return [];
  const changedPurposes = new Set(
    diff.changes.filter((c) => c.section === 'purposes' && c.kind === 'changed').map((c) => c.key),
  );
  const sharedChange = diff.changes.some(
    (c) => c.section === 'recipients' || c.section === 'storage',
  );
  return register.purposes
    .filter(reliesOnConsent)
    .filter((p) => sharedChange || changedPurposes.has(p.key))
    .map((p) => p.key);
}
