import { describe, expect, it } from 'vitest';
import { ACTOR, newContext, pageErrors, signIn } from './browser';
import { sharedBrowser } from './sharedBrowser';
import { getIncident, postAlerts, unique, waitForIncident } from './stack';

const browser = sharedBrowser();

describe('notes and edits on the incident page', () => {
  it('a note is rendered from Markdown and an edit raises the severity, both recorded by the API', async () => {
    const service = unique('e2e-edit');
    const summary = `Queue backing up on ${service}`;
    await postAlerts([{ service, severity: 'warning', summary }]);
    const incident = await waitForIncident(service);

    const context = await newContext(browser());
    const page = await signIn(context);
    // A script in a note must never run: any dialog fails the test.
    let dialogs = 0;
    page.on('dialog', (dialog) => {
      dialogs += 1;
      void dialog.dismiss();
    });
    await page.goto(`/incident/${incident.id}`);
    await page.getByRole('heading', { level: 1, name: summary }).waitFor();

    const note = 'Drained **worker-3**\n\n<img src=x onerror=alert(1)> [evil](javascript:alert(2))';
    await page.getByRole('textbox', { name: 'Note' }).fill(note);
    await page.getByRole('button', { name: 'Add note' }).click();
    const timeline = page.getByRole('region', { name: 'Timeline' });
    await timeline.locator('strong', { hasText: 'worker-3' }).waitFor();
    expect(await timeline.locator('img').count()).toBe(0);
    expect((await timeline.getByText('evil').getAttribute('href')) ?? '').not.toMatch(/javascript/i);

    await page.getByRole('button', { name: 'Edit' }).click();
    await page.getByLabel('Severity').selectOption('critical');
    await page.getByRole('button', { name: 'Save' }).click();
    await timeline.getByText('severity: warning → critical').waitFor();

    const recorded = await getIncident(incident.id);
    expect(recorded.severity).toBe('critical');
    const people = recorded.timeline.filter((entry) => entry.kind === 'note_added' || entry.kind === 'edited');
    expect(people.map((entry) => [entry.kind, entry.actor, entry.detail])).toEqual([
      ['note_added', ACTOR, { text: note }],
      ['edited', ACTOR, { severity: { from: 'warning', to: 'critical' } }],
    ]);
    expect(dialogs).toBe(0);
    expect(pageErrors(page)).toEqual([]);
    await context.close();
  });
});
