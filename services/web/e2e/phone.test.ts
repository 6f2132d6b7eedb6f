import { describe, expect, it } from 'vitest';
import { loadedList, newContext, openPage, pageErrors, signIn } from './browser';
import { expectNoOverflow, PHONE, shoot } from './phone';
import { sharedBrowser } from './sharedBrowser';
import { postAlerts, unique, waitForIncident } from './stack';

// The dashboard on a phone (390 x 844 CSS pixels, an iPhone 14's): a page's link opens the
// incident with its title readable and Acknowledge within thumb reach, nothing runs off the side,
// and the app can be added to the home screen.

const browser = sharedBrowser();

describe('on a phone', () => {
  it('the list and the incident fit the screen, the title is readable and Acknowledge is under the thumb', async () => {
    const service = unique('e2e-phone');
    const summary = `Checkout error rate above 5% for 5 minutes on ${service}`;
    await postAlerts([{ service, severity: 'critical', summary }]);
    const incident = await waitForIncident(service);

    const context = await newContext(browser(), PHONE);
    const page = await signIn(context);
    await openPage(page, `/?service=${service}`);
    await loadedList(page, 'incident-board', 1).waitFor();
    await expectNoOverflow(page, 'the dashboard');
    await shoot(page, 'phone-dashboard');

    // The title in the list: at least 200 of the 390 pixels, which is some 30 characters, not five.
    const title = page.locator(`[data-row-link="${incident.id}"]`);
    const shown = await title.evaluate((link) => ({ width: link.getBoundingClientRect().width, text: link.textContent ?? '' }));
    expect(shown.text).toBe(summary);
    expect(shown.width).toBeGreaterThanOrEqual(200);

    // The link a page carries: the incident itself.
    await openPage(page, `/incident/${incident.id}`);
    await expectNoOverflow(page, 'the incident page');
    const heading = page.getByRole('heading', { level: 1, name: summary });
    const headingBox = (await heading.boundingBox())!;
    expect(headingBox.y + headingBox.height).toBeLessThanOrEqual(PHONE.height);
    expect(await heading.evaluate((h) => h.scrollWidth <= h.clientWidth)).toBe(true);
    await page.getByText('Critical', { exact: true }).first().waitFor();
    await page.getByRole('region', { name: /^Alerts/ }).getByText('Firing').first().waitFor();
    await shoot(page, 'phone-incident');

    // Acknowledge and Resolve sit in the lower half of the screen, whole, wherever the page is scrolled.
    for (const scroll of [0, 10_000]) {
      await page.evaluate((y) => window.scrollTo(0, y), scroll);
      for (const name of [/^Acknowledge/, /^Resolve/]) {
        const box = (await page.getByRole('group', { name: 'Actions' }).getByRole('button', { name }).boundingBox())!;
        expect(box.y, `${name} at scroll ${scroll}`).toBeGreaterThanOrEqual(PHONE.height / 2);
        expect(box.y + box.height).toBeLessThanOrEqual(PHONE.height);
        expect(box.x).toBeGreaterThanOrEqual(0);
        expect(box.x + box.width).toBeLessThanOrEqual(PHONE.width);
        expect(box.height, 'a button a thumb can hit').toBeGreaterThanOrEqual(40);
      }
    }
    await page.getByRole('group', { name: 'Actions' }).getByRole('button', { name: /^Acknowledge/ }).click();
    await page.getByRole('status').filter({ hasText: 'The incident is now acknowledged' }).waitFor();
    expect(pageErrors(page)).toEqual([]);
    await context.close();
  });

  it('the app can be added to the home screen: a manifest with icons that load', async () => {
    const context = await newContext(browser(), PHONE);
    const page = await signIn(context);
    const href = await page.locator('link[rel="manifest"]').getAttribute('href');
    expect(href).toBe('/manifest.webmanifest');
    const answer = await context.request.get(href!);
    expect(answer.status()).toBe(200);
    expect(answer.headers()['content-type']).toContain('manifest+json');
    const manifest = (await answer.json()) as { name: string; start_url: string; display: string; icons: { src: string; sizes: string; type: string }[] };
    expect(manifest).toMatchObject({ name: 'tocsin', start_url: '/', display: 'standalone' });
    expect(manifest.icons.map((icon) => icon.sizes)).toEqual(expect.arrayContaining(['192x192', '512x512']));
    for (const icon of manifest.icons) {
      const image = await context.request.get(icon.src);
      expect(image.status(), icon.src).toBe(200);
      expect(image.headers()['content-type'], icon.src).toBe(icon.type);
    }
    expect(pageErrors(page)).toEqual([]);
    await context.close();
  });
});
