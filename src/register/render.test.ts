import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { recordOfProcessing, recordOfProcessingCsv } from './record-of-processing.js';
import type { Register } from './register-schema.js';
import { renderPolicy } from './render.js';
import { validateRegister } from './validate.js';

function load(name: string): Register {
  const yaml = readFileSync(
    new URL(`../../examples/registers/${name}.yaml`, import.meta.url),
    'utf8',
  );
  const result = validateRegister(yaml, `${name}.yaml`);
  if (!result.ok) throw new Error(`${name} is invalid`);
  return result.register;
}

/** What each seed's policy must say, in the words a reader looks for. */
const promises: Record<string, string[]> = {
  aiwo: [
    'We answer within one calendar month',
    'deleted when the contract with the contracting party ends',
    'removed from our backups within one calendar month',
    'Audit logs (records of who accessed or changed personal data, and when) are kept for two years',
    'Access: get a copy',
    'Portability:',
    'We set analytics cookies only with your consent',
    'Functional cookies are needed for the service and cannot be refused',
    'Encrypted at rest',
  ],
  aize: [
    'We answer within 30 days',
    'Our legitimate interests (Art. 6(1)(f)) when you are in a current business relationship with us, e.g. a user of the Service; otherwise your consent',
    'EU Standard Contractual Clauses (Art. 46)',
    'Marketing service providers and advertisers',
    'Withdraw consent:',
    'Norwegian Data Protection Authority (Datatilsynet)',
    'We set necessary, analytics, marketing cookies only with your consent',
  ],
  aito: [
    'deleted ten years after the customer relationship ends',
    'deleted when you no longer hold the role, or earlier when you object',
    'This data cannot be deleted on request before then',
    'Your consent (GDPR Art. 6(1)(a)), which you can withdraw at any time',
    'Objection:',
    'Restriction:',
    'Partners for targeted marketing',
  ],
  clevenio: [
    'We answer within 14 days',
    'from public sources (The Finnish Patent and Registration Office',
    'and we record the source of each item',
    'special category data (GDPR Art. 9), processed on the basis of obligations in employment and social security law',
    'Third-party advertising and tracking platforms',
    '(hashed)',
    'To opt out, use the unsubscribe link in every message',
    'the processing is unlawful but you do not want the data erased',
    'identifying information that lets us find you',
  ],
  viima: [
    'We answer within one calendar month',
    'deleted twelve calendar months after the contract with the contracting party ends',
    'pseudonymised instead where deletion would lose other data',
    'removed from our backups within twelve calendar months',
    'IP address (anonymised) (held anonymised)',
    'JSON and CSV',
    'Our API',
    'dpo@viima.com',
    'we pass requests about it to that customer',
    'You can opt out of them at any time',
  ],
};

describe('rendered policies keep each seed’s promises', () => {
  it.each(Object.keys(promises))('%s (Markdown and HTML)', (name) => {
    const register = load(name);
    const md = renderPolicy(register, 'md').replace(/\\/g, '');
    const html = renderPolicy(register, 'html');
    for (const promise of promises[name] ?? []) expect(md).toContain(promise);
    for (const recipient of register.recipients) expect(md).toContain(recipient.name);
    expect(html).toContain(`<html lang="${register.policy.language}">`);
    expect(html).toContain('<caption>Purposes, the data used and the legal basis</caption>');
    expect(html).toContain('<h2 id="rights">Your rights</h2>');
    expect(html).toContain(register.organisation.supervisoryAuthority.url);
    expect(html).not.toContain('<script');
  });

  it('escapes what the register says, so it cannot inject markup', () => {
    const register = load('demo');
    register.organisation.name = '<script>alert(1)</script>';
    register.organisation.supervisoryAuthority.url = 'javascript:alert(1)';
    const html = renderPolicy(register, 'html');
    expect(html).not.toContain('<script>alert');
    expect(html).toContain('&lt;script&gt;');
    expect(html).not.toContain('href="javascript:');
  });
});

describe('the record of processing', () => {
  it('has one CSV row per purpose with basis, recipients, transfers and retention', () => {
    const register = load('clevenio');
    const lines = recordOfProcessingCsv(recordOfProcessing(register)).trimEnd().split('\n');
    expect(lines[0]).toMatch(/^controller,controller_contact,dpo,purpose,name,/);
    expect(lines).toHaveLength(register.purposes.length + 1);
    const ads = lines.find((l) => l.includes(',ad_targeting,'));
    expect(ads).toMatch(/^Clevenio,/);
    expect(ads).toContain(',legitimate_interests,');
    expect(ads).toContain('United States; EU Standard Contractual Clauses');
    expect(ads).toContain('P0D after purpose_fulfilled');
    expect(lines.find((l) => l.includes(',employment,'))).toContain(',user.health_and_medical,');
  });
});
