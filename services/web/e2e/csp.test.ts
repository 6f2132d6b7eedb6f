import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { loadedList, newContext, openPage, pageErrors, signIn } from './browser';
import { stack } from './env';
import { sharedBrowser } from './sharedBrowser';
import { postAlerts, unique, waitForIncident } from './stack';

// The dashboard under the Content-Security-Policy query sends (services/query/src/security_headers.rs):
// every page and the theme switch run without one violation report.

const browser = sharedBrowser();

type Reports = { violations: string[] };

/** Records every `securitypolicyviolation` event of each document the context loads. */
async function recordViolations(context: import('playwright-core').BrowserContext) {
  await context.addInitScript(() => {
    const reports: Reports = { violations: [] };
    (window as unknown as { cspReports: Reports }).cspReports = reports;
    document.addEventListener('securitypolicyviolation', (event) => {
      reports.violations.push(`${event.effectiveDirective} blocked ${event.blockedURI || 'inline'} (${event.sourceFile}:${event.lineNumber})`);
    });
  });
}

function violations(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as unknown as { cspReports?: Reports }).cspReports?.violations ?? ['no recorder']);
}

describe('content security policy', () => {
  it('query sends a strict policy with the page and its files', async () => {
    for (const path of ['/', '/theme.js', '/incidents']) {
      const response = await fetch(`${stack().web}${path}`, { headers: { Accept: 'text/html' } });
      const policy = response.headers.get('content-security-policy') ?? '';
      expect(policy, path).toContain("script-src 'self';");
      expect(policy, path).toContain("frame-ancestors 'none'");
      expect(policy, path).not.toContain('unsafe-inline');
      expect(response.headers.get('x-content-type-options'), path).toBe('nosniff');
    }
  });

  it('the policy is enforced, and the recorder sees what it refuses', async () => {
    const context = await newContext(browser());
    await recordViolations(context);
    const page = await context.newPage();
    await page.goto('/signin');
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    const ran = await page.evaluate(() => {
      const script = document.createElement('script');
      script.textContent = 'window.inlineRan = true';
      document.head.append(script);
      return (window as unknown as { inlineRan?: boolean }).inlineRan === true;
    });
    expect(ran).toBe(false);
    await expect.poll(() => violations(page)).toEqual([expect.stringMatching(/^script-src-elem blocked inline/)]);
    await context.close();
  });

  it('no page of the dashboard reports a violation, in either theme', async () => {
    const service = unique('e2e-csp');
    await postAlerts([{ service, severity: 'critical', summary: `Disk almost full on ${service}`, runbook: 'https://runbooks.example.com/disk' }]);
    const incident = await waitForIncident(service);

    const context = await newContext(browser(), { colorScheme: 'dark' });
    await recordViolations(context);
    const page = await signIn(context);
    for (const path of ['/', `/incident/${incident.id}`, '/history', '/wallboard']) {
      await openPage(page, path);
      expect(await violations(page), path).toEqual([]);
    }
    // theme.js runs under the policy: the saved choice holds across a reload.
    await page.goto('/');
    await page.getByRole('button', { name: 'Light' }).click();
    await page.reload({ waitUntil: 'domcontentloaded' });
    expect(await page.evaluate(() => document.documentElement.className)).not.toContain('dark');
    await page.getByRole('button', { name: 'Dark' }).click();
    await page.reload({ waitUntil: 'domcontentloaded' });
    expect(await page.evaluate(() => document.documentElement.classList.contains('dark'))).toBe(true);
    await loadedList(page, 'incident-board').waitFor();
    expect(await violations(page)).toEqual([]);
    expect(pageErrors(page)).toEqual([]);
    await context.close();
  });
});
