import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/database.js';
import { startTestAvow, type TestAvow } from '../support/avow.js';
import { activateTestRegister } from './support.js';

/**
 * Single decisions keep subject state in memory. These tests change that
 * state behind the services' back (plain SQL, another process) and expect the
 * very next decision to see it.
 */
type Decision = { allowed: boolean; reasons: string[] };

let avow: TestAvow;
let token: string;

beforeAll(async () => {
  avow = await startTestAvow();
  let tenantId: string;
  ({ tenantId, token } = await avow.tenantWithKey(['vault:read', 'vault:write']));
  await activateTestRegister(avow, tenantId);
});
afterAll(async () => avow.close());

const decide = async (subjectId: string, purpose: string) =>
  (await avow.call<Decision>('POST', '/v1/decisions', { token, body: { subjectId, purpose } }))
    .body;

async function subjectWithConsent(email: string): Promise<string> {
  const created = await avow.call<{ subject: { id: string } }>('POST', '/v1/subjects', {
    token,
    body: { kind: 'customer', identities: [{ kind: 'email', value: email }] },
  });
  const subjectId = created.body.subject.id;
  await sql`insert into subject_purpose_state (tenant_id, subject_id, purpose, consent, consent_at, updated_at)
    select tenant_id, id, 'newsletter', 'given', now(), now() from subjects where id = ${subjectId}`.execute(
    avow.database.db,
  );
  return subjectId;
}

describe('decisions kept in memory', () => {
  it('see a write committed in a transaction, and one made by a single statement', async () => {
    const subjectId = await subjectWithConsent('dora@example.com');
    expect(await decide(subjectId, 'newsletter')).toMatchObject({ allowed: true });
    expect(await decide(subjectId, 'newsletter')).toMatchObject({ allowed: true });

    await avow.database.db.transaction().execute(async (tx) => {
      await sql`update subject_purpose_state set consent = 'withdrawn', consent_at = now()
        where subject_id = ${subjectId}`.execute(tx);
      // Not committed yet: the decision still reads the consent as given.
      expect(await decide(subjectId, 'newsletter')).toMatchObject({ allowed: true });
    });
    expect(await decide(subjectId, 'newsletter')).toMatchObject({
      allowed: false,
      reasons: ['consent_withdrawn'],
    });

    await sql`update subjects set restricted_at = now() where id = ${subjectId}`.execute(
      avow.database.db,
    );
    expect((await decide(subjectId, 'service')).reasons).toEqual(['restricted']);
  });

  it('does not keep a write that was rolled back', async () => {
    const subjectId = await subjectWithConsent('eero@example.com');
    expect(await decide(subjectId, 'newsletter')).toMatchObject({ allowed: true });
    await avow.database.db
      .transaction()
      .execute(async (tx) => {
        await sql`delete from subject_purpose_state where subject_id = ${subjectId}`.execute(tx);
        throw new Error('changed my mind');
      })
      .catch(() => {});
    expect(await decide(subjectId, 'newsletter')).toMatchObject({ allowed: true });
  });

  it.runIf(process.env.DATABASE_URL)(
    "hear another process's write (PostgreSQL) within moments",
    async () => {
      const subjectId = await subjectWithConsent('fanni@example.com');
      expect(await decide(subjectId, 'newsletter')).toMatchObject({ allowed: true });

      // Another process: its own connection pool on the same schema.
      const schema = (
        await sql<{ schema: string }>`select current_schema() as schema`.execute(avow.database.db)
      ).rows[0]?.schema;
      const other = await openDatabase({
        kind: 'postgres',
        url: process.env.DATABASE_URL as string,
        ...(schema ? { schema } : {}),
      });
      try {
        await sql`update subject_purpose_state set consent = 'withdrawn', consent_at = now()
          where subject_id = ${subjectId}`.execute(other.db);
      } finally {
        await other.close();
      }
      let reasons: string[] = [];
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline) {
        reasons = (await decide(subjectId, 'newsletter')).reasons;
        if (reasons.length > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      // Well before the 60 s an entry may live: the notification did it.
      expect(reasons).toEqual(['consent_withdrawn']);
    },
  );
});
