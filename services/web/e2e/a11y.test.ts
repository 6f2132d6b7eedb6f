import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { axe, launch, newContext, serious, signIn } from './browser';
import { postAlerts, unique, waitForIncident, api } from './stack';

let browser: Browser;
let incidentId = '';

beforeAll(async () => {
  browser = await launch();
  // Something on every page: an open, an acknowledged and a resolved incident.
  const services = [unique('e2e-a11y'), unique('e2e-a11y'), unique('e2e-a11y')];
  await postAlerts([{ service: services[0]!, severity: 'critical', summary: 'API error rate above 5%' }]);
  await postAlerts([{ service: services[1]!, severity: 'warning', summary: 'Certificate expires in 10 days' }]);
  await postAlerts([{ service: services[2]!, severity: 'info', summary: 'Batch job slower than usual', startedAgoMs: 600_000 }]);
  const [open, toAck, toResolve] = await Promise.all(services.map((s) => waitForIncident(s)));
  incidentId = open!.id;
  await api(`/incidents/${toAck!.id}/acknowledge`, { method: 'POST', body: JSON.stringify({ actor: 'a11y@example.com' }) });
  await api(`/incidents/${toResolve!.id}/resolve`, { method: 'POST', body: JSON.stringify({ actor: 'a11y@example.com' }) });
});
afterAll(async () => {
  await browser?.close();
});

const pages: { name: string; open: (page: Page) => Promise<void> }[] = [
  {
    name: 'dashboard',
    open: async (page) => {
      await page.goto('/');
      await page.locator('[data-testid="incident-board"][data-loaded="true"]').waitFor();
    },
  },
  {
    name: 'incident',
    open: async (page) => {
      await page.goto(`/incident/${incidentId}`);
      await page.getByRole('region', { name: 'Timeline' }).waitFor();
    },
  },
  {
    name: 'history',
    open: async (page) => {
      await page.goto('/history');
      await page.locator('[data-testid="history"][data-loaded="true"]').waitFor();
    },
  },
  {
    name: 'wallboard',
    open: async (page) => {
      await page.goto('/wallboard');
      await page.locator('[data-testid="wallboard"][data-loaded="true"]').waitFor();
    },
  },
  {
    name: 'shortcuts dialog',
    open: async (page) => {
      await page.goto('/');
      await page.locator('[data-testid="incident-board"][data-loaded="true"]').waitFor();
      await page.keyboard.press('?');
      await page.getByRole('dialog').waitFor();
    },
  },
];

describe.each(['light', 'dark'] as const)('accessibility (%s theme)', (colorScheme) => {
  it('the sign-in page has no serious or critical axe violation', async () => {
    const context = await newContext(browser, { colorScheme, axe: true });
    const page = await context.newPage();
    await page.goto('/signin');
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(serious(await axe(page))).toEqual([]);
    await context.close();
  });

  it.each(pages.map((p) => [p.name, p] as const))('%s has no serious or critical axe violation', async (_name, target) => {
    const context = await newContext(browser, { colorScheme, axe: true });
    const page = await signIn(context);
    await target.open(page);
    expect(serious(await axe(page))).toEqual([]);
    await context.close();
  });
});

describe('keyboard access', () => {
  it('the skip link is the first stop and jumps to the content', async () => {
    const context = await newContext(browser);
    const page = await signIn(context);
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => document.activeElement?.textContent);
    expect(focused).toBe('Skip to content');
    await page.keyboard.press('Enter');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('main');
    await context.close();
  });
});
