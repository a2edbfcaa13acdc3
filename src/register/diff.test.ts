import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { diffRegisters } from './diff.js';
import { validateRegister } from './validate.js';

const demo = readFileSync(new URL('../../examples/registers/demo.yaml', import.meta.url), 'utf8');
function parse(yaml: string) {
  const result = validateRegister(yaml);
  if (!result.ok) throw new Error(result.problems.map((p) => p.message).join('; '));
  return result.register;
}

describe('register diff', () => {
  it('finds no change between equal registers', () => {
    const diff = diffRegisters(parse(demo), parse(demo));
    expect(diff).toMatchObject({ changes: [], material: false, reasons: [] });
    expect(diff.text).toContain('No changes.');
  });

  it('flags a longer retention and a changed legal basis as material', () => {
    const next = demo
      .replace('duration: P6M', 'duration: P2Y')
      .replace('    legalBasis: legal_obligation', '    legalBasis: contract');
    const diff = diffRegisters(parse(demo), parse(next));
    expect(diff.material).toBe(true);
    expect(diff.reasons).toEqual([
      'purpose billing changes its legal basis (legal_obligation to contract)',
      'retention rule account_data keeps data longer',
    ]);
    expect(diff.text).toContain('~ retention.rules.account_data.duration: "P6M" -> "P2Y"');
  });

  it('does not flag a shorter retention or a change of wording', () => {
    const next = demo
      .replace('duration: P6M', 'duration: P3M')
      .replace('Provide the service', 'Run the service');
    const diff = diffRegisters(parse(demo), parse(next));
    expect(diff.material).toBe(false);
    expect(diff.changes.map((c) => `${c.section}.${c.key}`)).toEqual([
      'purposes.service',
      'retention.rules.account_data',
    ]);
  });

  it('flags a new recipient outside the EEA as a new recipient and a new transfer', () => {
    const withRecipient = demo.replace(
      '  - key: email_provider\n',
      '  - key: crm\n    name: CRM provider\n    role: processor\n    countries: [US]\n    safeguard: adequacy\n  - key: email_provider\n',
    );
    const diff = diffRegisters(parse(demo), parse(withRecipient));
    expect(diff.reasons).toEqual([
      'new recipient crm (CRM provider)',
      'new transfer outside the EEA to crm (US)',
    ]);
    expect(diff.text).toContain('+ recipients.crm');
  });
});
