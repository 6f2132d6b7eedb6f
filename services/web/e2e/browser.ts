// Headless Chromium through playwright-core, signed in the way a person does it.
import { createRequire } from 'node:module';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import type { MarkedList } from '../src/shared/lib/loadMarks';
import { CHROMIUM, stack } from './env';

export const ACTOR = 'e2e@example.com';

const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

export function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/**
 * A browser context on the stack. The page's Content-Security-Policy stays enforced in every
 * context, so a test that trips it fails on the console error. `axe: true` loads axe-core into
 * every page of the context as an init script, which the CSP does not apply to (an injected
 * <script> tag would be refused as inline script).
 */
export async function newContext(
  browser: Browser,
  options: { colorScheme?: 'light' | 'dark'; width?: number; height?: number; axe?: boolean } = {},
): Promise<BrowserContext> {
  const context = await browser.newContext({
    baseURL: stack().web,
    colorScheme: options.colorScheme ?? 'light',
    viewport: { width: options.width ?? 1400, height: options.height ?? 900 },
    reducedMotion: 'reduce',
  });
  if (options.axe) await context.addInitScript({ path: axePath });
  return context;
}

/** Signs in through the sign-in page and lands on the dashboard. */
export async function signIn(context: BrowserContext, name = ACTOR): Promise<Page> {
  const page = await context.newPage();
  failOnPageErrors(page);
  await page.goto('/signin');
  await page.getByLabel('API token').fill(stack().apiToken);
  await page.getByLabel('Your name').fill(name);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Incidents' }).waitFor();
  return page;
}

/**
 * A list of incidents once it shows the answer to its filters (the marks of
 * src/shared/lib/loadMarks.ts), and only once it holds `count` incidents when that is given.
 */
export function loadedList(page: Page, list: MarkedList, count?: number): Locator {
  const holding = count === undefined ? '' : `[data-count="${count}"]`;
  return page.locator(`[data-testid="${list}"][data-loaded="true"]${holding}`);
}

const listOfPage: Record<string, MarkedList | undefined> = { '/': 'incident-board', '/history': 'history', '/wallboard': 'wallboard' };

/** Goes to a page of the dashboard and waits until it shows its data: its list, or an incident's timeline. */
export async function openPage(page: Page, path: string): Promise<void> {
  await page.goto(path);
  const { pathname } = new URL(path, stack().web);
  const list = listOfPage[pathname];
  if (list) await loadedList(page, list).waitFor();
  else if (pathname.startsWith('/incident/')) await page.getByRole('region', { name: 'Timeline' }).waitFor();
  else throw new Error(`openPage: what shows that ${pathname} has loaded?`);
}

/** Uncaught exceptions and console errors in the page fail the test that caused them. */
export function failOnPageErrors(page: Page) {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  (page as Page & { errors: string[] }).errors = errors;
}

export function pageErrors(page: Page): string[] {
  return (page as Page & { errors?: string[] }).errors ?? [];
}

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[]; failureSummary?: string }[];
}

/** axe-core's WCAG 2.1 A/AA and best-practice rules on the page as it is now. */
export async function axe(page: Page): Promise<AxeViolation[]> {
  if (!(await page.evaluate(() => 'axe' in window))) {
    throw new Error('axe-core is not loaded: create the context with newContext(browser, { axe: true })');
  }
  const violations = await page.evaluate(async () => {
    const result = await (window as unknown as { axe: { run: (context: Document, options: unknown) => Promise<{ violations: unknown[] }> } }).axe.run(
      document,
      { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } },
    );
    return result.violations;
  });
  return violations as AxeViolation[];
}

export function serious(violations: AxeViolation[]): string[] {
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
}
