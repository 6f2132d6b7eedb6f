// One headless Chromium for all the tests of a file.
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { launch } from './browser';

/**
 * Launches Chromium before the file's first test and closes it after its last. Call it at the top
 * of a test file; the function it returns gives the browser inside the tests.
 */
export function sharedBrowser(): () => Browser {
  let browser: Browser | undefined;
  beforeAll(async () => {
    browser = await launch();
  });
  afterAll(async () => {
    await browser?.close();
  });
  return () => {
    if (!browser) throw new Error('Chromium is not running: call sharedBrowser() at the top of the test file');
    return browser;
  };
}
