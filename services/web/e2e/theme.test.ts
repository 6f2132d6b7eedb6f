import { describe, expect, it } from 'vitest';
import { newContext, signIn } from './browser';
import { sharedBrowser } from './sharedBrowser';

const browser = sharedBrowser();

const isDark = (page: import('playwright-core').Page) => page.evaluate(() => document.documentElement.classList.contains('dark'));

describe('dark mode', () => {
  it('follows the system, switches, and persists across reloads before first paint', async () => {
    const context = await newContext(browser(), { colorScheme: 'dark' });
    const page = await signIn(context);
    expect(await isDark(page)).toBe(true);
    const background = () => page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
    const darkBackground = await background();

    await page.getByRole('button', { name: 'Light' }).click();
    expect(await isDark(page)).toBe(false);
    expect(await background()).not.toBe(darkBackground);

    // theme.js applies the saved choice before the app's code has run.
    await page.reload({ waitUntil: 'domcontentloaded' });
    expect(await page.evaluate(() => document.documentElement.className)).not.toContain('dark');
    expect(await page.evaluate(() => localStorage.getItem('tocsin.theme'))).toBe('light');

    await page.getByRole('button', { name: 'Dark' }).click();
    await page.reload({ waitUntil: 'domcontentloaded' });
    expect(await isDark(page)).toBe(true);

    // Back to the system's choice, and the system changes.
    await page.getByRole('button', { name: 'System' }).click();
    await page.emulateMedia({ colorScheme: 'light' });
    await expect.poll(() => isDark(page)).toBe(false);
    await page.emulateMedia({ colorScheme: 'dark' });
    await expect.poll(() => isDark(page)).toBe(true);
    await context.close();
  });
});
