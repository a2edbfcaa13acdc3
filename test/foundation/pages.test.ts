import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAvow, type TestAvow } from '../support/avow.js';
import { launchBrowser } from '../support/browser.js';

/** Avow's own pages in a real browser (Debian's chromium, headless), under their security headers. */
let avow: TestAvow;
let browser: Browser;

beforeAll(async () => {
  avow = await startTestAvow();
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await avow?.close();
});

describe('pages', () => {
  it('the API docs render every operation, and the page policy blocks nothing they need', async () => {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    page.on('pageerror', (error) => problems.push(error.message));
    await page.goto(`${avow.baseUrl}/docs/`);
    await page.waitForSelector('.opblock');
    expect(await page.locator('.opblock-summary-path', { hasText: '/v1/decisions' }).count()).toBe(
      2,
    );
    expect(await page.locator('.opblock').count()).toBeGreaterThan(50);
    expect(problems).toEqual([]);
    await page.close();
  });
});
