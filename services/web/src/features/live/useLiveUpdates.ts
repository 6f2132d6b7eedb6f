// One stream at the app root, mapped into the query cache:
// - incident events are batched (one flush per FLUSH_MS) and applied by version to every cached
//   list and detail (shared/api/cache.ts); details whose timeline changed are refetched, batched;
// - on `ready` (first connect and every reconnect) the lists on screen are refetched once, to
//   catch up whatever happened while disconnected; `reset` refetches everything;
// - the connection state feeds the badge and the polling fallback.
import { useQueryClient, type QueryClient } from '@tanstack/react-query';
import { createContext, useContext, useEffect } from 'react';
import { learnIncidents, patchFetchedList } from '../../shared/api/cache';
import { connection } from '../../shared/api/connection';
import { incidentKeys } from '../../shared/api/incidents';
import type { IncidentEvent } from '../../shared/api/types';
import { session, useSession } from '../../shared/lib/session';
import { openEventStream, type OpenStream } from './stream';

export const FLUSH_MS = 150;
const DETAIL_REFETCH_MS = 500;

export const StreamContext = createContext<OpenStream>(openEventStream);

/** Keep the newest copy of each incident among a batch of events. */
export function newestIncidents(events: readonly IncidentEvent[]) {
  const newest = new Map<string, IncidentEvent['incident']>();
  for (const event of events) {
    const known = newest.get(event.incident.id);
    if (!known || known.version < event.incident.version) newest.set(event.incident.id, event.incident);
  }
  return [...newest.values()];
}

export function useLiveUpdates() {
  const client = useQueryClient();
  const open = useContext(StreamContext);
  const { token, person } = useSession();
  const signedIn = token !== null || person !== null;

  useEffect(() => {
    if (!signedIn) return;
    const batcher = createBatcher(client);
    // A list that arrives from the server gets the events it may have missed while in flight.
    const unsubscribe = client.getQueryCache().subscribe((event) => {
      if (event.type !== 'updated' || event.action.type !== 'success' || event.action.manual) return;
      const key = event.query.queryKey;
      if (key[0] === incidentKeys.all[0] && key[1] === 'list') patchFetchedList(client, key);
    });
    connection.set('connecting');
    const close = open(token, {
      onReady: () => {
        connection.set('live');
        void client.invalidateQueries({ queryKey: incidentKeys.lists() });
      },
      onIncident: batcher.push,
      onReset: () => void client.invalidateQueries({ queryKey: incidentKeys.all }),
      onDisconnect: () => connection.set(navigator.onLine === false ? 'offline' : 'reconnecting'),
      onUnauthorized: () => session.expire(),
    });
    return () => {
      close();
      batcher.stop();
      unsubscribe();
      connection.set('connecting');
    };
  }, [client, open, token, signedIn]);
}

function createBatcher(client: QueryClient) {
  let queue: IncidentEvent[] = [];
  let flushTimer: ReturnType<typeof setTimeout> | null = null;
  const details = new Set<string>();
  let detailTimer: ReturnType<typeof setTimeout> | null = null;

  const flush = () => {
    flushTimer = null;
    const events = queue;
    queue = [];
    for (const id of learnIncidents(client, newestIncidents(events))) details.add(id);
    if (details.size && !detailTimer) detailTimer = setTimeout(refetchDetails, DETAIL_REFETCH_MS);
  };
  const refetchDetails = () => {
    detailTimer = null;
    for (const id of details) void client.invalidateQueries({ queryKey: incidentKeys.detail(id), refetchType: 'active' });
    details.clear();
  };

  return {
    push(event: IncidentEvent) {
      queue.push(event);
      flushTimer ??= setTimeout(flush, FLUSH_MS);
    },
    stop() {
      if (flushTimer) clearTimeout(flushTimer);
      if (detailTimer) clearTimeout(detailTimer);
    },
  };
}
