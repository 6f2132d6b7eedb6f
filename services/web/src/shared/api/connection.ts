// The state of the live stream, for the badge and for choosing between live updates and polling.
import { useSyncExternalStore } from 'react';

export type ConnectionStatus = 'connecting' | 'live' | 'reconnecting' | 'offline';

export interface Connection {
  status: ConnectionStatus;
  /** When the current status began (ms). */
  since: number;
}

let current: Connection = { status: 'connecting', since: Date.now() };
const listeners = new Set<() => void>();

export const connection = {
  get: () => current,
  set(status: ConnectionStatus, now = Date.now()) {
    if (status === current.status) return;
    current = { status, since: now };
    listeners.forEach((listener) => listener());
  },
  subscribe(listener: () => void) {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
};

export function useConnection(): Connection {
  return useSyncExternalStore(connection.subscribe, connection.get, connection.get);
}

/** While the stream is down, lists and details poll at this interval instead. */
export const POLL_MS = 15_000;

export function usePollInterval(): number | false {
  return useConnection().status === 'live' ? false : POLL_MS;
}
