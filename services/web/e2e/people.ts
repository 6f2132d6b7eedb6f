// People signed in through the local OpenID Connect provider (scripts/oidc-provider: alice and
// bob), and changes made as them through their session, as the dashboard makes them.
import { execFileSync } from 'node:child_process';
import type { BrowserContext, Page } from 'playwright-core';
import { failOnPageErrors } from './browser';

export const PEOPLE = {
  alice: { login: 'alice', password: 'alice-password', name: 'Alice Liddell', email: 'alice@example.com' },
  bob: { login: 'bob', password: 'bob-password', name: 'Bob Dobbs', email: 'bob@example.com' },
} as const;

/** Signs the person in at the provider's own page and lands on the dashboard. */
export async function signInAs(context: BrowserContext, who: keyof typeof PEOPLE): Promise<Page> {
  const person = PEOPLE[who];
  const page = await context.newPage();
  failOnPageErrors(page);
  await page.goto('/signin');
  await page.getByRole('link', { name: 'Sign in with your organisation' }).click();
  await page.getByLabel('Login').fill(person.login);
  await page.getByLabel('Password').fill(person.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Incidents' }).waitFor();
  return page;
}

/**
 * Makes a user an admin the way docs/sign-in.md says to without an admin token: one statement on
 * query's database (scripts/web-e2e.sh's API token has `read` and `act` only).
 */
export function makeAdmin(email: string) {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL is not set (scripts/web-e2e.sh sets it)');
  execFileSync('psql', ['-q', url, '-c', `UPDATE users SET is_admin = true WHERE email = '${email.replace(/'/g, "''")}'`]);
}

/** A request as the context's signed-in person: their session cookie and, on changes, its CSRF token. */
export async function asPerson(context: BrowserContext) {
  const me = await context.request.get('/auth/me');
  if (!me.ok()) throw new Error(`GET /auth/me answered ${me.status()}`);
  const { csrf_token: csrf } = (await me.json()) as { csrf_token: string };
  return async <T>(method: 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> => {
    const answer = await context.request.fetch(path, {
      method,
      headers: { 'X-CSRF-Token': csrf, 'Content-Type': 'application/json' },
      data: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!answer.ok()) throw new Error(`${method} ${path} answered ${answer.status()}: ${await answer.text()}`);
    return (answer.status() === 204 ? undefined : await answer.json()) as T;
  };
}
