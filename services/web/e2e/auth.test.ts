import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failOnPageErrors, launch, newContext, signIn } from './browser';
import { stack } from './env';

let browser: Browser;
beforeAll(async () => {
  browser = await launch();
});
afterAll(async () => {
  await browser?.close();
});

describe('sign-in', () => {
  it('takes ?token= once and removes it from the address bar', async () => {
    const context = await newContext(browser);
    const page = await context.newPage();
    await page.goto(`/?token=${encodeURIComponent(stack().apiToken)}&severity=critical`);
    await page.getByRole('heading', { level: 1, name: 'Incidents' }).waitFor();
    const url = new URL(page.url());
    expect(url.searchParams.has('token')).toBe(false);
    expect(url.searchParams.get('severity')).toBe('critical');
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
    await context.close();
  });

  it('a refused token brings the sign-in back, and a wrong token is refused there', async () => {
    const context = await newContext(browser);
    const page = await signIn(context);
    await page.evaluate(() => localStorage.setItem('tocsin.token', 'not-the-token'));
    await page.reload();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.getByText('The API refused your token (401). Sign in again.').waitFor();

    await page.getByLabel('API token').fill('still-wrong');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText(/The API refused this token/).waitFor();
    expect(new URL(page.url()).pathname).toBe('/signin');
    await context.close();
  });

  it('the page routes survive a reload (served by query as index.html)', async () => {
    const context = await newContext(browser);
    const page = await signIn(context);
    failOnPageErrors(page);
    for (const path of ['/history', '/wallboard', '/incident/00000000-0000-4000-8000-000000000000']) {
      const response = await page.goto(path);
      expect(response?.status()).toBe(200);
    }
    await page.getByRole('heading', { name: 'No such incident' }).waitFor();
    await context.close();
  });
});
