import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

/** Debian's chromium; AVOW_TEST_CHROMIUM names another build. */
const executablePath = process.env.AVOW_TEST_CHROMIUM ?? '/usr/bin/chromium';

/**
 * A headless Chromium for the page tests. Playwright's own browser download
 * does not work everywhere, so the tests use the system's; when it is missing
 * they fail with what to install rather than playwright's missing-file message.
 * The flags keep it from reaching for the network on start.
 */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(executablePath)) {
    throw new Error(
      `The page tests need Chromium at ${executablePath}: install it (Debian/Ubuntu: apt-get install chromium) or set AVOW_TEST_CHROMIUM to its path`,
    );
  }
  return chromium.launch({
    executablePath,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
