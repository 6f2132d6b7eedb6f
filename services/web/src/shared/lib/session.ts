// Who is signed in: the API token and the display name used as `actor`, kept in localStorage; or a
// person signed in with the organisation's identity provider, whose session is a cookie the page
// never sees (GET /auth/status says who they are). Read through useSession(). A 401 from the API ends
// either, which brings back the sign-in.
// A sign-in link carries the token in the fragment (`#token=`), which browsers never send to a
// server, so it stays out of every access log; a link never replaces a stored token unasked.
import { useSyncExternalStore } from 'react';

/** A person signed in with the identity provider (docs/sign-in.md). */
export interface Person {
  name: string;
  email: string | null;
  /** Sent as X-CSRF-Token with every POST. */
  csrfToken: string;
  /** An admin may do everything, in every team. */
  isAdmin: boolean;
  /** The teams they are a member of, by slug, with their role in each. */
  teams: TeamRole[];
}

/** A person's role in one team (docs/sign-in.md, "Teams and roles"). */
export interface TeamRole {
  slug: string;
  role: 'viewer' | 'responder' | 'manager';
}

/** Whether query offers sign-in with the identity provider: unknown until GET /auth/status answered. */
export type SignInWithProvider = 'unknown' | 'on' | 'off';

export interface Session {
  token: string | null;
  person: Person | null;
  provider: SignInWithProvider;
  name: string;
  /** Why the last session ended, shown on the sign-in page. */
  expired: boolean;
  /**
   * A token a `#token=` link brought while another one was stored. Held in memory only, until the
   * user says whether it replaces theirs.
   */
  offered: string | null;
  /** The address carried `?token=`, which is never used: the page says to use `#token=`. */
  queryTokenIgnored: boolean;
}

const TOKEN_KEY = 'tocsin.token';
const NAME_KEY = 'tocsin.name';

function read(): Session {
  return {
    token: storage()?.getItem(TOKEN_KEY) || null,
    person: null,
    provider: 'unknown',
    name: storage()?.getItem(NAME_KEY) ?? '',
    expired: false,
    offered: null,
    queryTokenIgnored: false,
  };
}

function storage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

let current: Session | null = null;
const listeners = new Set<() => void>();

function set(next: Session) {
  current = next;
  listeners.forEach((listener) => listener());
}

export const session = {
  get(): Session {
    current ??= read();
    return current;
  },
  signIn(token: string, name: string) {
    storage()?.setItem(TOKEN_KEY, token);
    storage()?.setItem(NAME_KEY, name);
    set({ ...session.get(), token, name, expired: false, offered: null, queryTokenIgnored: false });
  },
  /** A link's token, waiting for the user to keep theirs or take it. */
  offer(token: string) {
    set({ ...session.get(), offered: token });
  },
  /** The user took the link's token. */
  acceptOffered() {
    const { offered, name } = session.get();
    if (offered) session.signIn(offered, name);
  },
  /** The user kept their token: the link's is forgotten. */
  declineOffered() {
    set({ ...session.get(), offered: null });
  },
  ignoredQueryToken() {
    set({ ...session.get(), queryTokenIgnored: true });
  },
  dismissQueryTokenNotice() {
    set({ ...session.get(), queryTokenIgnored: false });
  },
  /** What GET /auth/status said: who is signed in with the provider, and whether query offers it. */
  providerAnswered(person: Person | null, provider: 'on' | 'off') {
    const current = session.get();
    set({ ...current, person, provider, expired: person ? false : current.expired });
  },
  /** Keep the name, forget the token (the person's session ends at POST /auth/logout). */
  signOut() {
    storage()?.removeItem(TOKEN_KEY);
    set({ ...session.get(), token: null, person: null, expired: false });
  },
  expire() {
    const { token, person } = session.get();
    if (!token && !person) return;
    storage()?.removeItem(TOKEN_KEY);
    set({ ...session.get(), token: null, person: null, expired: true });
  },
  /** Tests: forget the cached copy so the next get() reads localStorage again. */
  reload() {
    set(read());
  },
  subscribe(listener: () => void) {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
};

export function useSession(): Session {
  return useSyncExternalStore(session.subscribe, session.get, session.get);
}

/** What the address said about a token. */
export type LinkToken = 'none' | 'signed-in' | 'same' | 'offered' | 'ignored';

/**
 * A sign-in link: `#token=…` in the fragment. The token is taken out of the address bar at once
 * (`history.replaceState`), so it is neither bookmarked nor shared, and other parameters are kept.
 * - Nobody signed in: the page signs in with it.
 * - Another token stored: it is only offered (`session.offer`); the page asks before it replaces
 *   the stored one, so a crafted link cannot swap a user's token behind their back.
 * - `?token=` in the query string is never used, because the server and every proxy on the way
 *   logged the request with it: it is removed from the address bar, and the page says why.
 */
export function takeTokenFromUrl(location: Location = window.location, history: History = window.history): LinkToken {
  const search = new URLSearchParams(location.search);
  const fragment = new URLSearchParams(location.hash.replace(/^#/, ''));
  if (!search.has('token') && !fragment.has('token')) return 'none';
  const fromQuery = search.has('token');
  const token = fragment.get('token')?.trim() || null;
  search.delete('token');
  fragment.delete('token');
  const rest = search.toString();
  const hash = fragment.toString();
  history.replaceState(history.state, '', location.pathname + (rest ? `?${rest}` : '') + (hash ? `#${hash}` : ''));

  if (!token) {
    if (fromQuery) session.ignoredQueryToken();
    return fromQuery ? 'ignored' : 'none';
  }
  const current = session.get();
  if (!current.token) {
    session.signIn(token, current.name);
    return 'signed-in';
  }
  if (current.token === token) return 'same';
  session.offer(token);
  return 'offered';
}
