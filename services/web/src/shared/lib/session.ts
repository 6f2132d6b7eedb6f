// Who is signed in: the API token and the display name used as `actor`. Kept in localStorage,
// read through useSession(). A 401 from the API expires the token, which brings back the sign-in.
import { useSyncExternalStore } from 'react';

export interface Session {
  token: string | null;
  name: string;
  /** Why the last session ended, shown on the sign-in page. */
  expired: boolean;
}

const TOKEN_KEY = 'tocsin.token';
const NAME_KEY = 'tocsin.name';

function read(): Session {
  return {
    token: storage()?.getItem(TOKEN_KEY) || null,
    name: storage()?.getItem(NAME_KEY) ?? '',
    expired: false,
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
    set({ token, name, expired: false });
  },
  /** Keep the name, forget the token. */
  signOut() {
    storage()?.removeItem(TOKEN_KEY);
    set({ ...session.get(), token: null, expired: false });
  },
  expire() {
    if (!session.get().token) return;
    storage()?.removeItem(TOKEN_KEY);
    set({ ...session.get(), token: null, expired: true });
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

/**
 * `?token=` in the address: store it and take it out of the address bar, so it is neither
 * bookmarked nor shared. Returns whether a token was taken.
 */
export function takeTokenFromUrl(location: Location = window.location, history: History = window.history): boolean {
  const params = new URLSearchParams(location.search);
  const token = params.get('token');
  if (!token) return false;
  params.delete('token');
  session.signIn(token, session.get().name);
  const search = params.toString();
  history.replaceState(history.state, '', location.pathname + (search ? `?${search}` : '') + location.hash);
  return true;
}
