// Sign-in with the organisation's identity provider (docs/sign-in.md): who is signed in, and
// signing out. The session itself is an HttpOnly cookie the page never reads.
import { apiRequest, ApiError } from './client';
import { session, type Person } from '../lib/session';
import type { LoggedOut, SignInStatus } from './types';

/**
 * Asks query whether it offers sign-in with the identity provider and who is signed in, and
 * records the answer. No answer offers the token sign-in only.
 */
export async function askWhoIsSignedIn(): Promise<void> {
  let person: Person | null = null;
  let provider: 'on' | 'off' = 'off';
  try {
    const response = await fetch('/auth/status', { headers: { Accept: 'application/json' } });
    if (response.ok) {
      // Always 200 (a browser logs every 401 and 404 to its console).
      const status = (await response.json()) as SignInStatus;
      provider = status.provider ? 'on' : 'off';
      if (status.user && status.csrf_token) {
        person = {
          name: status.user.name,
          email: status.user.email ?? null,
          csrfToken: status.csrf_token,
          isAdmin: status.user.is_admin,
          teams: (status.teams ?? []).map(({ slug, role }) => ({ slug, role })),
        };
      }
    }
  } catch {
    // Unreachable: the token sign-in still works once it is back.
  }
  session.providerAnswered(person, provider);
}

/** Where the provider's own sign-in starts, coming back to `next` (a path on this site). */
export function providerSignInUrl(next: string): string {
  return `/auth/login?return_to=${encodeURIComponent(next)}`;
}

/**
 * Ends the person's session (`POST /auth/logout`, with the CSRF token) and answers where to send
 * the browser to sign out of the provider too, if it offers that.
 */
export async function signOutPerson(): Promise<string | null> {
  try {
    const answer = await apiRequest<LoggedOut>('/auth/logout', { method: 'POST' });
    return answer.provider_logout_url ?? null;
  } catch (error) {
    // Already ended (401): signed out all the same.
    if (error instanceof ApiError && error.status === 401) return null;
    throw error;
  } finally {
    session.signOut();
  }
}
