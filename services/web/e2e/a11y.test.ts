import type { Page } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { axe, newContext, openPage, serious, signIn } from './browser';
import { sharedBrowser } from './sharedBrowser';
import { postAlerts, unique, waitForIncident, api } from './stack';

const browser = sharedBrowser();
let incidentId = '';

beforeAll(async () => {
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

const pages: { name: string; open: (page: Page) => Promise<void> }[] = [
  { name: 'dashboard', open: (page) => openPage(page, '/') },
  { name: 'incident', open: (page) => openPage(page, `/incident/${incidentId}`) },
  { name: 'history', open: (page) => openPage(page, '/history') },
  { name: 'wallboard', open: (page) => openPage(page, '/wallboard') },
  {
    name: 'shortcuts dialog',
    open: async (page) => {
      await openPage(page, '/');
      await page.keyboard.press('?');
      await page.getByRole('dialog').waitFor();
    },
  },
];

describe.each(['light', 'dark'] as const)('accessibility (%s theme)', (colorScheme) => {
  it('the sign-in page has no serious or critical axe violation', async () => {
    const context = await newContext(browser(), { colorScheme, axe: true });
    const page = await context.newPage();
    await page.goto('/signin');
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(serious(await axe(page))).toEqual([]);
    await context.close();
  });

  it.each(pages.map((p) => [p.name, p] as const))('%s has no serious or critical axe violation', async (_name, target) => {
    const context = await newContext(browser(), { colorScheme, axe: true });
    const page = await signIn(context);
    await target.open(page);
    expect(serious(await axe(page))).toEqual([]);
    await context.close();
  });
});

describe('keyboard access', () => {
  it('the skip link is the first stop and jumps to the content', async () => {
    const context = await newContext(browser());
    const page = await signIn(context);
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => document.activeElement?.textContent);
    expect(focused).toBe('Skip to content');
    await page.keyboard.press('Enter');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('main');
    await context.close();
  });
});
