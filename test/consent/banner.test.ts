import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAvow, type TestAvow } from '../support/avow.js';
import { launchBrowser } from '../support/browser.js';
import { consentRegisterYaml, consentTenant, publishRegister } from './consent-fixture.js';

/**
 * The banner in a real browser (Debian's chromium, headless): a plain HTML
 * page on another origin includes consent.js, as a tenant's site would.
 */
type State = { purpose: string; consent: string | null; effective: string; channel: string };

let avow: TestAvow;
let browser: Browser;
let site: Server;
let siteUrl: string;
let tenant: Awaited<ReturnType<typeof consentTenant>>;

beforeAll(async () => {
  avow = await startTestAvow();
  tenant = await consentTenant(avow);
  const script = `${avow.baseUrl}/v1/public/tenants/${tenant.tenantId}/consent.js`;
  site = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end(`<!doctype html><html lang="en"><head><title>Shop</title>
<script src="${script}"></script></head>
<body><h1>A plain shop</h1><p>Some content.</p>
<script type="text/plain" data-avow-category="analytics">window.analyticsLoaded = true;</script>
</body></html>`);
  });
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}/`;
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => site?.close(resolve));
  await avow?.close();
});

async function visit(context?: BrowserContext): Promise<{ page: Page; context: BrowserContext }> {
  const ctx = context ?? (await browser.newContext());
  const page = await ctx.newPage();
  await page.goto(siteUrl);
  await page.waitForFunction(() => 'avow' in window);
  return { page, context: ctx };
}

const banner = (page: Page) => page.getByRole('region', { name: 'Cookies on this site' });

async function serverStates(page: Page, count: number): Promise<Record<string, State>> {
  let states: State[] = [];
  await expect
    .poll(async () => {
      const token = await page.evaluate(() =>
        (
          window as unknown as { avow: { consent: { visitor(): string | null } } }
        ).avow.consent.visitor(),
      );
      if (!token) return 0;
      const visitorId = token.split('.')[0];
      const reply = await avow.call<{ states: State[] }>(
        'GET',
        `/v1/consent/state?visitorId=${visitorId}`,
        { token: tenant.token },
      );
      states = reply.body.states ?? [];
      return states.length;
    })
    .toBeGreaterThanOrEqual(count);
  return Object.fromEntries(states.map((s) => [s.purpose, s]));
}

const has = (page: Page, category: string) =>
  page.evaluate(
    (c) =>
      (window as unknown as { avow: { consent: { has(c: string): boolean } } }).avow.consent.has(c),
    category,
  );

describe('cookie banner in a browser', () => {
  it('asks on the first visit, records "accept all", runs gated scripts and does not ask again', async () => {
    const { page, context } = await visit();
    await expect.poll(() => banner(page).isVisible()).toBe(true);
    // Accept and reject are the same kind of button, side by side.
    const accept = page.getByRole('button', { name: 'Accept all' });
    const reject = page.getByRole('button', { name: 'Reject all' });
    expect(await accept.getAttribute('class')).toBe(await reject.getAttribute('class'));
    expect(await has(page, 'analytics')).toBe(false);
    expect(
      await page.evaluate(
        () => (window as unknown as { analyticsLoaded?: boolean }).analyticsLoaded,
      ),
    ).toBeUndefined();
    await page.screenshot({ path: '/tmp/avow-banner.png' });

    await accept.click();
    expect(await banner(page).count()).toBe(0);
    const states = await serverStates(page, 3);
    expect(states['cookies.analytics']).toMatchObject({ consent: 'given', channel: 'banner' });
    expect(states['cookies.functional']?.consent).toBe('given');
    expect(states['cookies.marketing']?.consent).toBe('given');
    expect(await has(page, 'analytics')).toBe(true);
    expect(
      await page.evaluate(
        () => (window as unknown as { analyticsLoaded?: boolean }).analyticsLoaded,
      ),
    ).toBe(true);

    await page.close();
    const next = await visit(context);
    expect(await banner(next.page).count()).toBe(0);
    expect(await has(next.page, 'analytics')).toBe(true);
    await context.close();
  });

  it('records "reject all" and keeps gated scripts off', async () => {
    const { page, context } = await visit();
    await page.getByRole('button', { name: 'Reject all' }).click();
    const states = await serverStates(page, 3);
    expect(Object.values(states).map((s) => s.consent)).toEqual(['refused', 'refused', 'refused']);
    expect(await has(page, 'analytics')).toBe(false);
    expect(await has(page, 'necessary')).toBe(true);
    expect(
      await page.evaluate(
        () => (window as unknown as { analyticsLoaded?: boolean }).analyticsLoaded,
      ),
    ).toBeUndefined();
    await context.close();
  });

  it('customises from the keyboard in an accessible dialog', async () => {
    const { page, context } = await visit();
    await expect
      .poll(() => page.evaluate(() => document.activeElement?.getAttribute('data-avow')))
      .toBe('banner');
    // Tab through the banner (policy link, accept, reject) to "Choose cookies".
    const focused = () => page.evaluate(() => document.activeElement?.textContent ?? '');
    const order: string[] = [];
    for (let i = 0; i < 4 && !order.includes('Choose cookies'); i++) {
      await page.keyboard.press('Tab');
      order.push(await focused());
    }
    expect(order).toEqual(['Privacy policy', 'Accept all', 'Reject all', 'Choose cookies']);
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: 'Cookie preferences' });
    await expect.poll(() => dialog.isVisible()).toBe(true);
    const necessary = dialog.getByRole('checkbox', { name: /Necessary/ });
    expect(await necessary.isChecked()).toBe(true);
    expect(await necessary.isDisabled()).toBe(true);
    const analytics = dialog.getByRole('checkbox', { name: 'Analytics' });
    expect(await analytics.isChecked()).toBe(false);
    await page.screenshot({ path: '/tmp/avow-preferences.png' });
    await analytics.focus();
    await page.keyboard.press('Space');
    expect(await analytics.isChecked()).toBe(true);
    // Escape closes without saving; focus goes back.
    await page.keyboard.press('Escape');
    expect(await dialog.count()).toBe(0);
    await page.getByRole('button', { name: 'Choose cookies' }).click();
    await page.getByRole('checkbox', { name: 'Analytics' }).check();
    await page.getByRole('button', { name: 'Save my choices' }).click();
    const states = await serverStates(page, 3);
    expect(states['cookies.analytics']?.consent).toBe('given');
    expect(states['cookies.functional']?.consent).toBe('refused');
    expect(states['cookies.marketing']?.consent).toBe('refused');
    expect(await has(page, 'analytics')).toBe(true);
    expect(await has(page, 'marketing')).toBe(false);
    await context.close();
  });

  it('applies a GPC visitor’s opt-outs before any click, and keeps them after "accept all"', async () => {
    const context = await browser.newContext();
    await context.setExtraHTTPHeaders({ 'Sec-GPC': '1' });
    await context.addInitScript(() => {
      Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: () => true });
    });
    const { page } = await visit(context);
    await expect.poll(() => banner(page).isVisible()).toBe(true);
    expect(await page.getByText('Global Privacy Control').count()).toBeGreaterThan(0);
    const before = await serverStates(page, 3);
    expect(before['cookies.marketing']).toMatchObject({ consent: 'refused', channel: 'gpc' });
    expect(before.newsletter).toMatchObject({ consent: 'refused', channel: 'gpc' });
    expect(before.analytics).toMatchObject({ effective: 'objected', channel: 'gpc' });

    await page.getByRole('button', { name: 'Accept all' }).click();
    const after = await serverStates(page, 5);
    expect(after['cookies.analytics']?.consent).toBe('given');
    expect(after['cookies.marketing']?.consent).toBe('refused');
    expect(await has(page, 'marketing')).toBe(false);
    await context.close();
  });

  it('asks again when the register’s cookie list changes', async () => {
    const { page, context } = await visit();
    await page.getByRole('button', { name: 'Accept all' }).click();
    await serverStates(page, 3);
    await page.close();
    const yaml = consentRegisterYaml().replace(
      '\ncookies:\n',
      '\ncookies:\n  - name: heatmap\n    provider: Heat Inc.\n    category: analytics\n    purpose: Records clicks.\n    lifetime: P30D\n    party: third\n',
    );
    await publishRegister(avow, tenant.token, yaml);
    const next = await visit(context);
    await expect.poll(() => banner(next.page).isVisible()).toBe(true);
    await context.close();
  });
});
