import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestAvow, type TestAvow } from '../support/avow.js';
import { consentTenant } from './consent-fixture.js';

let avow: TestAvow;
beforeAll(async () => {
  avow = await startTestAvow();
});
afterAll(async () => {
  await avow.close();
});

it('rate-limits the public consent routes per address, and only those', async () => {
  const { token, subjectId } = await consentTenant(avow);
  const statuses: number[] = [];
  for (let i = 0; i < 301; i++) {
    statuses.push((await avow.call('GET', '/.well-known/gpc.json', { token: null })).status);
  }
  expect(statuses.slice(0, 300).every((s) => s === 200)).toBe(true);
  expect(statuses[300]).toBe(429);
  const limited = await avow.call<{ error: { code: string } }>(
    'GET',
    '/v1/public/consent/receipt-key',
    { token: null },
  );
  expect(limited.status).toBe(429);
  expect(limited.body.error.code).toBe('rate_limited');
  // The authenticated API shares no budget with the public routes.
  expect(
    (await avow.call('GET', `/v1/consent/state?subjectId=${subjectId}`, { token })).status,
  ).toBe(200);
});
