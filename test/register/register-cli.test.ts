import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAvow, type TestAvow } from '../support/avow.js';
import { runAvow } from '../support/processes.js';

/** `avow register …` as a user runs it: its own process, real files, the real server. */
const dir = mkdtempSync(path.join(tmpdir(), 'avow-register-cli-'));
const demo = 'examples/registers/demo.yaml';
const aiwo = 'examples/registers/aiwo.yaml';

let avow: TestAvow;
let cli: Record<string, string>;

beforeAll(async () => {
  avow = await startTestAvow();
  const { token } = await avow.tenantWithKey(['register:read', 'register:write']);
  cli = { AVOW_URL: avow.baseUrl, AVOW_API_KEY: token };
});
afterAll(async () => avow.close());

describe('avow register (local)', () => {
  it('check: valid files exit 0; a wrong value names file:line:col, the path and what is allowed, exit 1', async () => {
    const valid = await runAvow(['register', 'check', demo, aiwo]);
    expect(valid.code).toBe(0);
    expect(valid.stdout).toContain('2 files: valid');

    const bad = path.join(dir, 'bad.yaml');
    const text = readFileSync(demo, 'utf8');
    const basis = /legalBasis: \w+/.exec(text);
    if (!basis) throw new Error('the demo register has no legalBasis');
    writeFileSync(bad, text.replace(basis[0], 'legalBasis: because_we_can'));
    const line = text.slice(0, basis.index).split('\n').length;
    const invalid = await runAvow(['register', 'check', bad]);
    expect(invalid.code).toBe(1);
    expect(invalid.stdout).toMatch(
      new RegExp(
        `bad\\.yaml:${line}:\\d+ purposes\\[\\d+\\]\\.legalBasis: "because_we_can" is not allowed \\(allowed: consent, contract`,
      ),
    );

    const missing = await runAvow(['register', 'check', path.join(dir, 'nowhere.yaml')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('Cannot read');
  });

  it('render: the policy as Markdown on standard output and as HTML in a file', async () => {
    const markdown = await runAvow(['register', 'render', aiwo]);
    expect(markdown.code).toBe(0);
    expect(markdown.stdout).toContain('# Aiwo Privacy Policy');

    const out = path.join(dir, 'policy.html');
    const html = await runAvow(['register', 'render', aiwo, '--format', 'html', '--out', out]);
    expect(html.code).toBe(0);
    expect(readFileSync(out, 'utf8')).toContain('<html lang="en">');
  });

  it('diff: lists changes and says whether they are material', async () => {
    const same = await runAvow(['register', 'diff', demo, demo]);
    expect(same.code).toBe(0);
    expect(same.stdout).toContain('No changes.');
    expect(same.stdout).toContain('Material change: no');

    const changed = path.join(dir, 'changed.yaml');
    const text = readFileSync(demo, 'utf8');
    const basis = /legalBasis: (\w+)/.exec(text);
    const other = basis?.[1] === 'consent' ? 'legitimate_interests' : 'consent';
    writeFileSync(changed, text.replace(basis?.[0] ?? '', `legalBasis: ${other}`));
    const diff = await runAvow(['register', 'diff', demo, changed]);
    expect(diff.code).toBe(0);
    expect(diff.stdout).toMatch(/legalBasis/);
    expect(diff.stdout).toContain('Material change: yes');
  });
});

describe('avow register (server)', () => {
  it('push activates a version, versions lists it, and a bad file is refused with its line', async () => {
    const pushed = await runAvow(['register', 'push', demo], cli);
    expect(pushed.code).toBe(0);
    expect(pushed.stdout).toMatch(/Activated version 1 \(rv_/);

    const versions = await runAvow(['register', 'versions', '--json'], cli);
    expect(versions.code).toBe(0);
    const listed = JSON.parse(versions.stdout) as { number: number; active: boolean }[];
    expect(listed.map((v) => [v.number, v.active])).toEqual([[1, true]]);

    const bad = path.join(dir, 'bad-push.yaml');
    writeFileSync(bad, readFileSync(demo, 'utf8').replace(/legalBasis: \w+/, 'legalBasis: nope'));
    const refused = await runAvow(['register', 'push', bad], cli);
    expect(refused.code).toBe(1);
    expect(`${refused.stdout}${refused.stderr}`).toMatch(/legalBasis/);
  });
});
