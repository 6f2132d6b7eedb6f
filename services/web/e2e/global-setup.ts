import { existsSync } from 'node:fs';
import { CHROMIUM, stack } from './env';

export default async function setup() {
  const { web } = stack();
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM} (set CHROMIUM_PATH)`);
  const page = await fetch(`${web}/`, { headers: { Accept: 'text/html' } });
  const html = await page.text();
  if (!page.ok || !html.includes('<div id="root">')) {
    throw new Error(`${web}/ does not serve the dashboard (status ${page.status}); is WEB_ROOT set for query?`);
  }
}
