// Screenshots of every page in light and dark, into docs/screenshots/, from a stack seeded with
// realistic incidents. Best against a fresh stack: scripts/web-e2e.sh screenshots.
import { mkdirSync } from 'node:fs';
import type { BrowserContext, Page } from 'playwright-core';
import { launch, loadedList, newContext, openPage, signIn } from './browser';
import { api, postAlerts, waitForIncident, type AlertSpec } from './stack';

const OUT = new URL('../../../docs/screenshots/', import.meta.url).pathname;
const min = 60_000;
const hour = 60 * min;

interface Seed {
  alerts: AlertSpec[];
  /** After the alerts: acknowledge; assign (and resolve its last alert); acknowledge then resolve
   * now through the API; or let Alertmanager resolve it, `resolveAfterMs` after it started. */
  then?: 'acknowledge' | 'assign' | 'ack-and-resolve' | { resolveAfterMs: number };
}

const now = Date.now();
const at = (agoMs: number) => new Date(now - agoMs).toISOString();

const seeds: Seed[] = [
  {
    alerts: [
      { service: 'checkout-api', severity: 'critical', alertname: 'HighErrorRate', instance: 'checkout-api-7d9f', summary: 'Checkout error rate above 5% for 5 minutes', team: 'payments', startsAt: at(6 * min), runbook: 'https://runbooks.example.com/checkout-errors' },
      { service: 'checkout-api', severity: 'critical', alertname: 'HighErrorRate', instance: 'checkout-api-2b4c', summary: 'Checkout error rate above 5% for 5 minutes', team: 'payments', startsAt: at(5 * min) },
      { service: 'checkout-api', severity: 'critical', alertname: 'HighErrorRate', instance: 'checkout-api-9a1e', summary: 'Checkout error rate above 5% for 5 minutes', team: 'payments', startsAt: at(4 * min) },
    ],
    then: 'assign',
  },
  { alerts: [{ service: 'checkout-api', severity: 'high', alertname: 'LatencyP99High', instance: 'checkout-api-7d9f', summary: 'p99 latency above 2 s on /api/cart', team: 'payments', startsAt: at(22 * min) }], then: 'acknowledge' },
  { alerts: [{ service: 'payments-gateway', severity: 'high', alertname: 'CardAuthFailures', instance: 'pgw-eu-1', summary: 'Card authorisation failures rising (12%)', team: 'payments', startsAt: at(41 * min) }] },
  { alerts: [{ service: 'web-server', severity: 'critical', alertname: 'HighCPU', instance: 'web-server-01', summary: 'High CPU usage on web-server-01', team: 'platform', startsAt: at(3 * min) }] },
  { alerts: [{ service: 'web-server', severity: 'warning', alertname: 'DiskSpaceLow', instance: 'web-server-03', summary: 'Disk /var above 85% on web-server-03', team: 'platform', startsAt: at(2 * hour + 14 * min) }] },
  { alerts: [{ service: 'postgres-main', severity: 'warning', alertname: 'ReplicationLag', instance: 'pg-replica-2', summary: 'Replication lag above 30 s on pg-replica-2', team: 'storage', startsAt: at(55 * min) }] },
  { alerts: [{ service: 'search', severity: 'info', alertname: 'IndexRebuildSlow', instance: 'search-indexer-0', summary: 'Nightly index rebuild running longer than usual', team: 'discovery', startsAt: at(3 * hour) }] },
  { alerts: [{ service: 'kafka', severity: 'warning', alertname: 'ConsumerLag', instance: 'orders-consumer', summary: 'Consumer group orders-consumer lag growing', environment: 'staging', team: 'platform', startsAt: at(17 * min) }] },
  // History: resolved ones, with their own times to acknowledge and resolve.
  { alerts: [{ service: 'dns', severity: 'critical', alertname: 'ResolverTimeouts', instance: 'resolver-b', summary: 'DNS resolver timeouts above 2%', team: 'platform', startsAt: at(11 * min) }], then: 'ack-and-resolve' },
  { alerts: [{ service: 'api-gateway', severity: 'high', alertname: 'Upstream5xx', instance: 'gw-3', summary: 'Upstream 5xx from orders service', team: 'platform', startsAt: at(7 * min) }], then: 'ack-and-resolve' },
  { alerts: [{ service: 'auth', severity: 'critical', alertname: 'LoginFailures', instance: 'auth-1', summary: 'Login failures above 20%', team: 'identity', startsAt: at(5 * hour) }], then: { resolveAfterMs: 38 * min } },
  { alerts: [{ service: 'cdn', severity: 'high', alertname: 'OriginErrors', instance: 'edge-fra', summary: 'Origin 5xx from edge-fra', team: 'platform', startsAt: at(9 * hour) }], then: { resolveAfterMs: 1 * hour + 12 * min } },
  { alerts: [{ service: 'mailer', severity: 'warning', alertname: 'QueueBacklog', instance: 'mailer-0', summary: 'Outgoing mail queue above 10k', team: 'growth', startsAt: at(26 * hour) }], then: { resolveAfterMs: 24 * min } },
  { alerts: [{ service: 'recommendations', severity: 'info', alertname: 'CacheHitRateLow', instance: 'reco-cache', summary: 'Recommendation cache hit rate below 60%', team: 'discovery', startsAt: at(30 * hour) }], then: { resolveAfterMs: 11 * min } },
];

async function seed() {
  for (const item of seeds) await postAlerts(item.alerts);
  for (const item of seeds) {
    const incident = await waitForIncident(item.alerts[0]!.service, `&severity=${item.alerts[0]!.severity}`);
    const then = item.then;
    if (then === 'acknowledge') await act(incident.id, 'acknowledge', { actor: 'ana@example.com' });
    if (then === 'assign') {
      await act(incident.id, 'assign', { assignee: 'bo@example.com', actor: 'ana@example.com' });
      // One of its three alerts has resolved already.
      const alert = item.alerts[2]!;
      await postAlerts([{ ...alert, resolved: true, endedAgoMs: 1 * min }]);
    }
    if (then === 'ack-and-resolve') {
      await act(incident.id, 'acknowledge', { actor: 'bo@example.com' });
      await act(incident.id, 'resolve', { actor: 'bo@example.com' });
    }
    if (typeof then === 'object') {
      // Alertmanager resolves the alert in the past: TTR is endsAt - startsAt.
      const alert = item.alerts[0]!;
      const started = Date.parse(alert.startsAt!);
      await postAlerts([{ ...alert, resolved: true, endedAgoMs: now - (started + then.resolveAfterMs) }]);
    }
  }
  // Wait until the resolutions are in.
  for (let i = 0; i < 100; i++) {
    const resolved = await api<{ items: unknown[] }>('/incidents?status=resolved&limit=50');
    if (resolved.items.length >= 6) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function act(id: string, action: string, body: object) {
  await api(`/incidents/${id}/${action}`, { method: 'POST', body: JSON.stringify(body) });
}

async function shoot(page: Page, name: string) {
  await page.waitForTimeout(300);
  await page.screenshot({ path: `${OUT}${name}.png`, fullPage: false });
  console.log(`docs/screenshots/${name}.png`);
}

async function main() {
  mkdirSync(OUT, { recursive: true });
  await seed();
  const checkout = await waitForIncident('checkout-api', '&severity=critical');
  const browser = await launch();
  for (const theme of ['light', 'dark'] as const) {
    const signInContext: BrowserContext = await newContext(browser, { colorScheme: theme, width: 1440, height: 900 });
    const signInPage = await signInContext.newPage();
    await signInPage.goto('/signin');
    await signInPage.getByRole('heading', { name: 'Sign in' }).waitFor();
    await shoot(signInPage, `signin-${theme}`);
    await signInContext.close();

    const context = await newContext(browser, { colorScheme: theme, width: 1440, height: 900 });
    const page = await signIn(context, 'ana@example.com');
    await loadedList(page, 'incident-board').waitFor();
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
    await page.keyboard.press('j');
    await page.keyboard.press('j');
    await shoot(page, `dashboard-${theme}`);

    await page.keyboard.press('?');
    await page.getByRole('dialog').waitFor();
    await shoot(page, `shortcuts-${theme}`);
    await page.keyboard.press('Escape');

    await openPage(page, `/incident/${checkout.id}`);
    await shoot(page, `incident-${theme}`);

    await openPage(page, '/history?range=7d');
    await shoot(page, `history-${theme}`);
    await context.close();

    const wallContext = await newContext(browser, { colorScheme: theme, width: 1920, height: 1080 });
    const wall = await signIn(wallContext, 'noc@example.com');
    await openPage(wall, '/wallboard');
    await wall.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
    await shoot(wall, `wallboard-${theme}`);
    await wallContext.close();
  }
  await browser.close();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
