import { describe, expect, it } from 'vitest';
import { newContext, pageErrors, signIn } from './browser';
import { sharedBrowser } from './sharedBrowser';
import { postAlerts, unique, waitForIncident } from './stack';

const browser = sharedBrowser();

describe('live dashboard', () => {
  it('shows an alert posted to ingest without a reload', async () => {
    const context = await newContext(browser());
    const page = await signIn(context);
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
    // A reload would lose this marker.
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));

    const service = unique('e2e-live');
    const summary = `Checkout latency above SLO on ${service}`;
    const posted = Date.now();
    await postAlerts([{ service, severity: 'critical', summary }]);

    const row = page.getByRole('link', { name: summary });
    await row.waitFor({ timeout: 15_000 });
    const seenAfterMs = Date.now() - posted;
    console.log(`incident visible ${seenAfterMs} ms after POST /alerts`);
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(42);
    expect(await page.getByRole('heading', { level: 2, name: service }).count()).toBe(1);
    expect(pageErrors(page)).toEqual([]);
    await context.close();
  });

  it('an acknowledgement in one window shows up in another', async () => {
    const service = unique('e2e-two');
    const summary = `Queue backlog growing on ${service}`;
    await postAlerts([{ service, severity: 'high', summary }]);
    const incident = await waitForIncident(service);

    const watcherContext = await newContext(browser());
    const watcher = await signIn(watcherContext, 'watcher@example.com');
    await watcher.goto(`/?service=${service}`);
    const watchedRow = watcher.locator(`[data-incident-id="${incident.id}"]`);
    await watchedRow.getByText('Open', { exact: true }).waitFor();
    await watcher.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();

    const actorContext = await newContext(browser());
    const actor = await signIn(actorContext);
    await actor.goto(`/incident/${incident.id}`);
    await actor.getByRole('button', { name: /^Acknowledge/ }).click();
    await actor.getByRole('status').filter({ hasText: 'The incident is now acknowledged' }).waitFor();

    await watchedRow.getByText('Acknowledged', { exact: true }).waitFor({ timeout: 5_000 });
    expect(pageErrors(watcher)).toEqual([]);
    expect(pageErrors(actor)).toEqual([]);
    await watcherContext.close();
    await actorContext.close();
  });
});

describe('reconnection', () => {
  it('shows the lost connection, reconnects by itself and catches up', async () => {
    const context = await newContext(browser());
    const page = await signIn(context);
    const badge = page.getByTestId('connection');
    await badge.filter({ hasText: 'Live' }).waitFor();

    await context.setOffline(true);
    await page.locator('[data-testid="connection"]:not([data-state="live"])').waitFor({ timeout: 30_000 });
    expect(await badge.textContent()).toMatch(/Reconnecting since|Offline since/);

    const service = unique('e2e-offline');
    const summary = `Posted while the page was offline (${service})`;
    await postAlerts([{ service, severity: 'high', summary }]);
    await waitForIncident(service);

    await context.setOffline(false);
    await badge.filter({ hasText: 'Live' }).waitFor({ timeout: 30_000 });
    await page.getByRole('link', { name: summary }).waitFor({ timeout: 15_000 });
    await context.close();
  });
});
