import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { failOnPageErrors, newContext, pageErrors, signIn } from './browser';
import { stack } from './env';
import { sharedBrowser } from './sharedBrowser';

const browser = sharedBrowser();

describe('sign-in', () => {
  it('signs in from a #token= link, never sends the token in a URL, and takes it out of the address bar', async () => {
    const { apiToken } = stack();
    const context = await newContext(browser());
    const page = await context.newPage();
    failOnPageErrors(page);
    const urls = recordRequestUrls(page);
    await page.goto(`/?severity=critical#token=${encodeURIComponent(apiToken)}`);
    await page.getByRole('heading', { level: 1, name: 'Incidents' }).waitFor();
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
    const url = new URL(page.url());
    expect(url.hash).toBe('');
    expect(url.searchParams.get('severity')).toBe('critical');
    expect(await page.evaluate(() => localStorage.getItem('tocsin.token'))).toBe(apiToken);
    // The list, the live feed and the page's files were all requested, none with the token.
    expect(urls.some((u) => u.includes('/incidents?'))).toBe(true);
    expect(urls.some((u) => u.includes('/events'))).toBe(true);
    expect(urls.filter((u) => u.includes(apiToken) || u.includes(encodeURIComponent(apiToken)))).toEqual([]);
    expect(pageErrors(page)).toEqual([]);
    await context.close();
  });

  it('a ?token= link does not sign in, says why, and leaves no token in the address bar', async () => {
    const { apiToken } = stack();
    const context = await newContext(browser());
    const page = await context.newPage();
    failOnPageErrors(page);
    await page.goto(`/history?token=${encodeURIComponent(apiToken)}`);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.getByText(/put the token after # instead/).waitFor();
    expect(page.url()).not.toContain(apiToken);
    expect(await page.evaluate(() => localStorage.getItem('tocsin.token'))).toBeNull();
    expect(pageErrors(page)).toEqual([]);
    await context.close();
  });

  it('asks before a #token= link replaces the token a signed-in user has: keep keeps it, replace replaces it', async () => {
    const { apiToken } = stack();
    const other = `link-token-${Date.now()}-not-the-api-token`;
    const context = await newContext(browser());
    const page = await signIn(context);
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
    const urls = recordRequestUrls(page);
    const bearers = recordBearers(page);

    await page.goto(`/history#token=${other}`);
    const dialog = page.getByRole('dialog', { name: 'Replace your API token?' });
    await dialog.waitFor();
    expect(new URL(page.url()).hash).toBe('');
    expect(await page.evaluate(() => localStorage.getItem('tocsin.token'))).toBe(apiToken);
    await dialog.getByRole('button', { name: 'Keep my current token', exact: true }).click();
    await dialog.waitFor({ state: 'detached' });
    await page.getByRole('heading', { level: 1, name: 'History' }).waitFor();
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
    expect(await page.evaluate(() => localStorage.getItem('tocsin.token'))).toBe(apiToken);
    expect(bearers).not.toContain(other);

    await page.goto(`/#token=${other}`);
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Replace my token', exact: true }).click();
    // The link's token is now the one the page sends; the API does not know it, so the sign-in
    // comes back, as for any refused token.
    await page.getByText('The API refused your token (401). Sign in again.').waitFor();
    expect(bearers).toContain(other);
    expect(urls.filter((u) => u.includes(other))).toEqual([]);
    expect(pageErrors(page).filter((e) => !e.includes('401'))).toEqual([]);
    await context.close();
  });

  it('a refused token brings the sign-in back, and a wrong token is refused there', async () => {
    const context = await newContext(browser());
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
    const context = await newContext(browser());
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

/** Every URL the page requests from now on: documents, files, API calls and the live feed. */
function recordRequestUrls(page: Page): string[] {
  const urls: string[] = [];
  page.on('request', (request) => urls.push(request.url()));
  return urls;
}

/** The bearer token of every request the page sends from now on. */
function recordBearers(page: Page): string[] {
  const tokens: string[] = [];
  page.on('request', (request) => {
    const header = request.headers()['authorization'];
    if (header?.startsWith('Bearer ')) tokens.push(header.slice('Bearer '.length));
  });
  return tokens;
}
