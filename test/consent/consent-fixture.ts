import { readFileSync } from 'node:fs';
import type { TestAvow } from '../support/avow.js';

/** The demo register with a cookie of every category, so the banner has something to ask. */
export function consentRegisterYaml(
  extra: { policyVersion?: string; newsletterText?: string } = {},
): string {
  let yaml = readFileSync(new URL('../../examples/registers/demo.yaml', import.meta.url), 'utf8');
  yaml = yaml.replace(
    '\ncookies:\n',
    `\ncookies:
  - name: prefs
    provider: Demo Company
    category: functional
    purpose: Remembers your language.
    lifetime: P1Y
    party: first
  - name: _ads
    provider: Ad Network Inc.
    category: marketing
    purpose: Measures ad campaigns.
    lifetime: P90D
    party: third
`,
  );
  if (extra.policyVersion)
    yaml = yaml.replace('  version: "1"\n', `  version: "${extra.policyVersion}"\n`);
  if (extra.newsletterText)
    yaml = yaml.replace('Send me the monthly newsletter.', extra.newsletterText);
  return yaml;
}

export async function publishRegister(
  avow: TestAvow,
  token: string,
  yaml: string,
): Promise<string> {
  const reply = await avow.call<{ version: { id: string } }>('PUT', '/v1/register', {
    token,
    body: { yaml },
  });
  if (reply.status !== 201 && reply.status !== 200)
    throw new Error(`register: ${reply.status} ${reply.text}`);
  return reply.body.version.id;
}

export async function newSubject(
  avow: TestAvow,
  token: string,
  kind = 'customer',
): Promise<string> {
  const reply = await avow.call<{ subject: { id: string } }>('POST', '/v1/subjects', {
    token,
    body: { kind },
  });
  if (reply.status !== 201 && reply.status !== 200)
    throw new Error(`subject: ${reply.status} ${reply.text}`);
  return reply.body.subject.id;
}

/** A tenant with the consent register active, an admin key, and one customer subject. */
export async function consentTenant(avow: TestAvow) {
  const { tenantId, token } = await avow.tenantWithKey(['admin']);
  const registerVersion = await publishRegister(avow, token, consentRegisterYaml());
  const subjectId = await newSubject(avow, token);
  return { tenantId, token, registerVersion, subjectId };
}

/** What the consent ledger holds for these holders, read from the database (not the API). */
export async function ledgerRows(avow: TestAvow, tenantId: string, holders: string[]) {
  const { db } = avow.database;
  return {
    events: await db
      .selectFrom('consentEvents')
      .select([
        'id',
        'holderId',
        'purpose',
        'action',
        'ipAnonymised',
        'userAgent',
        'sealed',
        'sealedFor',
      ])
      .where('tenantId', '=', tenantId)
      .where('holderId', 'in', holders)
      .orderBy('id')
      .execute(),
    receipts: await db
      .selectFrom('consentReceipts')
      .select(['id', 'holderId', 'receipt', 'signature'])
      .where('tenantId', '=', tenantId)
      .where('holderId', 'in', holders)
      .orderBy('id')
      .execute(),
    states: await db
      .selectFrom('consentState')
      .select(['holderId', 'purpose'])
      .where('tenantId', '=', tenantId)
      .where('holderId', 'in', holders)
      .execute(),
  };
}
