import { describe, expect, it } from 'vitest';
import { newContext, pageErrors, signIn } from './browser';
import { sharedBrowser } from './sharedBrowser';
import { postAlerts, unique, waitForIncident } from './stack';

const browser = sharedBrowser();

describe('filters', () => {
  it('narrow the list, live in the URL and survive a reload', async () => {
    const environment = unique('e2e-env');
    const web = unique('e2e-web');
    const db = unique('e2e-db');
    await postAlerts([{ service: web, environment, severity: 'critical', summary: `Web down (${web})` }]);
    await postAlerts([{ service: db, environment, severity: 'warning', summary: `Replica lag (${db})` }]);
    await waitForIncident(web);
    await waitForIncident(db);

    const context = await newContext(browser());
    const page = await signIn(context);
    const environmentField = page.getByLabel('Environment');
    await environmentField.fill(environment);
    await environmentField.press('Enter');
    await page.getByRole('link', { name: `Web down (${web})` }).waitFor();
    await page.getByRole('link', { name: `Replica lag (${db})` }).waitFor();

    await page.getByRole('button', { name: 'Critical', exact: true }).click();
    await page.getByRole('link', { name: `Replica lag (${db})` }).waitFor({ state: 'detached' });
    await page.getByRole('link', { name: `Web down (${web})` }).waitFor();
    const url = new URL(page.url());
    expect(url.searchParams.get('environment')).toBe(environment);
    expect(url.searchParams.getAll('severity')).toEqual(['critical']);
    expect(await page.getByTestId('filter-summary').textContent()).toBe(
      `Open or acknowledged incidents of critical severity in ${environment}.`,
    );

    await page.reload();
    await page.getByRole('link', { name: `Web down (${web})` }).waitFor();
    expect(await page.getByRole('link', { name: `Replica lag (${db})` }).count()).toBe(0);
    expect(await page.getByLabel('Environment').inputValue()).toBe(environment);
    expect(await page.getByRole('button', { name: 'Critical', exact: true }).getAttribute('aria-pressed')).toBe('true');

    await page.getByRole('button', { name: 'Clear filters' }).click();
    expect(new URL(page.url()).search).toBe('');
    expect(pageErrors(page)).toEqual([]);
    await context.close();
  });
});
