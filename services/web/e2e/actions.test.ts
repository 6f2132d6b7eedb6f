import type { Locator } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import type { IncidentStatus } from '../src/shared/api/types';
import { ACTOR, newContext, pageErrors, signIn } from './browser';
import { sharedBrowser } from './sharedBrowser';
import { getIncident, postAlerts, unique, waitForIncident } from './stack';

const browser = sharedBrowser();

describe('incident page actions', () => {
  it('acknowledge, resolve and reopen change the incident in the API', async () => {
    const service = unique('e2e-act');
    const summary = `Disk almost full on ${service}`;
    await postAlerts([{ service, severity: 'warning', summary, startedAgoMs: 4 * 60_000 }]);
    const incident = await waitForIncident(service);

    const context = await newContext(browser());
    const page = await signIn(context);
    await page.goto(`/?service=${service}`);
    await page.getByRole('link', { name: summary }).click();
    await page.getByRole('heading', { level: 1, name: summary }).waitFor();
    expect(new URL(page.url()).pathname).toBe(`/incident/${incident.id}`);

    const acknowledge = page.getByRole('button', { name: /^Acknowledge/ });
    const resolve = page.getByRole('button', { name: /^Resolve/ });
    const reopen = page.getByRole('button', { name: 'Reopen' });
    expect(await reopen.isDisabled()).toBe(true);

    /** Clicks an action; the page says the incident's new status, and the API has it. */
    const press = async (button: Locator, status: IncidentStatus) => {
      await button.click();
      await page.getByRole('status').filter({ hasText: `The incident is now ${status}` }).waitFor();
      const now = await getIncident(incident.id);
      expect(now.status).toBe(status);
      return now;
    };

    const acknowledged = await press(acknowledge, 'acknowledged');
    expect(acknowledged.acknowledged_by).toBe(ACTOR);
    expect(acknowledged.timeline.map((e) => e.kind)).toContain('acknowledged');
    await page.getByRole('region', { name: 'Timeline' }).getByText('by e2e@example.com').waitFor();
    expect(await acknowledge.isDisabled()).toBe(true);

    const resolved = await press(resolve, 'resolved');
    expect(resolved.resolved_by).toBe(ACTOR);

    await press(reopen, 'open');

    await page.getByRole('button', { name: 'Assign to me' }).click();
    await page.getByRole('status').filter({ hasText: `Assigned to ${ACTOR}.` }).waitFor();
    expect((await getIncident(incident.id)).assignee).toBe(ACTOR);
    expect(pageErrors(page)).toEqual([]);
    await context.close();
  });

  it('keyboard: a acknowledges the selected incident on the dashboard', async () => {
    const service = unique('e2e-key');
    await postAlerts([{ service, severity: 'critical', summary: `Error rate high on ${service}` }]);
    const incident = await waitForIncident(service);
    const context = await newContext(browser());
    const page = await signIn(context);
    await page.goto(`/?service=${service}`);
    await page.getByRole('link', { name: `Error rate high on ${service}` }).waitFor();
    await page.keyboard.press('j');
    await page.keyboard.press('a');
    await page.getByRole('status').filter({ hasText: 'Acknowledged “' }).waitFor();
    expect((await getIncident(incident.id)).status).toBe('acknowledged');
    await context.close();
  });
});
