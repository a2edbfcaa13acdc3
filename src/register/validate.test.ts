import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { registerJsonSchemaText } from './register-schema.js';
import { type RegisterProblem, validateRegister } from './validate.js';

const examples = ['aiwo', 'aize', 'aito', 'clevenio', 'viima', 'demo'];
const read = (name: string) =>
  readFileSync(new URL(`../../examples/registers/${name}.yaml`, import.meta.url), 'utf8');

function problemsOf(yaml: string): RegisterProblem[] {
  const result = validateRegister(yaml, 'broken.yaml');
  if (result.ok) throw new Error('expected the register to be invalid');
  return result.problems;
}

/** Line (1-based) of the first line of `yaml` containing `text`. */
const lineOf = (yaml: string, text: string) =>
  yaml.split('\n').findIndex((l) => l.includes(text)) + 1;

describe('the example registers', () => {
  it.each(examples)('%s validates', (name) => {
    const result = validateRegister(read(name), `${name}.yaml`);
    expect(result.ok ? [] : result.problems).toEqual([]);
  });
});

describe('a broken register reports every problem, placed', () => {
  const demo = read('demo');

  it('reports an unknown legal basis with its line, column and the allowed values', () => {
    const yaml = demo.replace('legalBasis: legal_obligation', 'legalBasis: law');
    const [problem] = problemsOf(yaml);
    expect(problem).toMatchObject({
      file: 'broken.yaml',
      path: 'purposes[1].legalBasis',
      line: lineOf(yaml, 'legalBasis: law'),
      column: 17,
      message: '"law" is not allowed',
    });
    expect(problem?.allowed).toContain('legitimate_interests');
  });

  it('reports a reference to an undeclared category', () => {
    const yaml = demo.replace(
      'categories: [user.name, user.contact.email, user.payment]',
      'categories: [user.name, user.contact.email, user.payments]',
    );
    const problems = problemsOf(yaml);
    expect(problems).toEqual([
      expect.objectContaining({
        path: 'purposes[1].categories[2]',
        line: lineOf(yaml, 'user.payments'),
        message: 'category "user.payments" is not declared in categories',
      }),
    ]);
    expect(problems[0]?.allowed).toContain('user.payment');
  });

  it('rejects a consent purpose that cannot be withdrawn', () => {
    const yaml = demo.replace('withdrawable: true', 'withdrawable: false');
    expect(problemsOf(yaml)).toEqual([
      expect.objectContaining({
        path: 'purposes[2].consent.withdrawable',
        line: lineOf(yaml, 'withdrawable: false'),
        message: expect.stringContaining('must be withdrawable'),
        allowed: 'true',
      }),
    ]);
  });

  it('needs a safeguard for a recipient outside the EEA', () => {
    const yaml = demo.replace('    safeguard: scc\n', '');
    expect(problemsOf(yaml)).toEqual([
      expect.objectContaining({
        path: 'recipients[1]',
        message: expect.stringContaining('outside the EEA (US) and needs a transfer safeguard'),
      }),
    ]);
  });

  it('needs an Art. 9 condition for special-category data', () => {
    const yaml = demo.replace(
      '  - key: user.payment\n',
      '  - key: user.health_and_medical\n    group: Health\n  - key: user.payment\n',
    );
    expect(problemsOf(yaml)).toEqual([
      expect.objectContaining({
        path: 'categories[3]',
        line: lineOf(yaml, 'user.health_and_medical'),
        message: expect.stringContaining('special category data (GDPR Art. 9)'),
      }),
    ]);
  });

  it('rejects a duration that does not parse, and an unknown field, and a custom key without a parent, all at once', () => {
    const yaml = demo
      .replace('duration: P6M', 'duration: 6 months')
      .replace('    encryptedAtRest: true', '    encrypted: true')
      .replace('  - key: user.account\n', '  - key: user.acount\n');
    const problems = problemsOf(yaml);
    expect(problems.map((p) => [p.path, p.message])).toEqual([
      [
        'categories[2].key',
        expect.stringContaining('"user.acount" is not a fideslang data category'),
      ],
      ['purposes[0].categories[2]', 'category "user.account" is not declared in categories'],
      ['storage[0].encrypted', 'unknown field "encrypted"'],
      ['retention.rules[0].duration', 'is not an ISO 8601 duration'],
    ]);
    expect(problems[3]?.allowed).toContain('P1M');
    expect(problems[2]?.allowed).toContain('encryptedAtRest');
    expect(problems[2]?.line).toBe(lineOf(yaml, 'encrypted: true'));
  });

  it('reports YAML syntax errors with their position', () => {
    const problems = problemsOf('avow: 1\npolicy: [\n');
    expect(problems[0]?.message).toMatch(/^YAML: /);
    expect(problems[0]?.line).toBeGreaterThan(0);
  });

  it('says what a register is when given something else', () => {
    expect(problemsOf('- a\n- b\n')[0]?.message).toContain('YAML mapping');
  });

  it('reports a missing required section', () => {
    const yaml = demo.replace(/\nsecurity:\n {2}measures:\n( {4}- .*\n)+/, '\n');
    expect(problemsOf(yaml)).toEqual([
      expect.objectContaining({ path: 'security', message: 'is required' }),
    ]);
  });
});

describe('the shipped JSON Schema', () => {
  it('is generated from the zod schema (run npm run register:schema after changing it)', () => {
    const shipped = readFileSync(
      new URL('../../schemas/register.schema.json', import.meta.url),
      'utf8',
    );
    expect(shipped).toBe(registerJsonSchemaText());
  });
});
