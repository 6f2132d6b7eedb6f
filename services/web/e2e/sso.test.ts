import { describe, expect, it } from 'vitest';
import { failOnPageErrors, newContext, pageErrors } from './browser';
import { sharedBrowser } from './sharedBrowser';
import { getIncident, postAlerts, unique, waitForIncident } from './stack';

const browser = sharedBrowser();

// scripts/web-e2e.sh runs query with sign-in at the local OpenID Connect provider
// (scripts/oidc-provider), whose accounts include alice.
describe('sign-in with the identity provider', () => {
  it('a person signs in through the provider’s own page, acknowledges, and the timeline names them', async () => {
    const service = unique('e2e-sso');
    const summary = `Queue backing up on ${service}`;
    await postAlerts([{ service, severity: 'warning', summary }]);
    const incident = await waitForIncident(service);

    const context = await newContext(browser());
    const page = await context.newPage();
    failOnPageErrors(page);
    await page.goto(`/incident/${incident.id}`);
    await page.getByRole('link', { name: 'Sign in with your organisation' }).click();

    // The provider's login form, on the provider's origin.
    await page.getByLabel('Login').fill('alice');
    await page.getByLabel('Password').fill('alice-password');
    await page.getByRole('button', { name: 'Sign in' }).click();

    // Back on the page asked for, signed in as Alice, with no token.
    await page.getByRole('heading', { level: 1, name: summary }).waitFor();
    expect(new URL(page.url()).pathname).toBe(`/incident/${incident.id}`);
    await page.getByRole('banner').getByText('Alice Liddell').waitFor();
    expect(await page.evaluate(() => localStorage.getItem('tocsin.token'))).toBeNull();
    const cookies = await context.cookies();
    const sessionCookie = cookies.find((cookie) => cookie.name === 'tocsin_session');
    expect(sessionCookie).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Lax', path: '/' });

    await page.getByRole('button', { name: /^Acknowledge/ }).click();
    await page.getByRole('status').filter({ hasText: 'The incident is now acknowledged' }).waitFor();
    expect((await getIncident(incident.id)).acknowledged_by).toBe('alice@example.com');
    await page.getByRole('region', { name: 'Timeline' }).getByText('by alice@example.com').waitFor();
    expect(pageErrors(page)).toEqual([]);

    // Signing out ends the session here and goes to the provider's sign-out page.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/session\/end\?/);
    const answer = await context.request.get('/auth/status');
    expect(await answer.json()).toEqual({ provider: true });
    await context.close();
  });
});
