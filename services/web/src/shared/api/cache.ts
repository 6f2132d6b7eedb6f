// Putting incidents the dashboard learns about (stream events, action answers) into the cached
// lists and details. `incident.version` decides: a copy never replaces a newer one.
import type { QueryClient } from '@tanstack/react-query';
import { matchesFilters, type ListFilters } from './filters';
import { incidentKeys, type IncidentList } from './incidents';
import type { Incident, IncidentDetail } from './types';

/**
 * The list after learning these incidents (each the newest copy of its id): a newer copy replaces
 * the cached one in place, one that no longer matches the filters leaves, a new match is added.
 * Returns the same object when nothing changed.
 */
export function mergeIntoList(list: IncidentList, incidents: readonly Incident[], filters: ListFilters, now: number) {
  const byId = new Map(list.items.map((item) => [item.id, item]));
  let changed = false;
  for (const incident of incidents) {
    const cached = byId.get(incident.id);
    if (cached && cached.version >= incident.version) continue;
    if (matchesFilters(incident, filters, now)) {
      byId.set(incident.id, incident);
      changed = true;
    } else if (cached) {
      byId.delete(incident.id);
      changed = true;
    }
  }
  return changed ? { ...list, items: [...byId.values()] } : list;
}

/** The detail with a newer incident's fields; alerts and timeline stay until refetched. */
export function mergeIntoDetail(detail: IncidentDetail, incident: Incident): IncidentDetail {
  return incident.version > detail.version ? { ...detail, ...incident } : detail;
}

/** How long an incident learned from an event or an action is kept to patch lists fetched later. */
const RECENT_MS = 120_000;

interface Ledger {
  newest: Map<string, { incident: Incident; seenAt: number }>;
}

const ledgers = new WeakMap<QueryClient, Ledger>();

function ledgerOf(client: QueryClient): Ledger {
  let ledger = ledgers.get(client);
  if (!ledger) {
    ledger = { newest: new Map() };
    ledgers.set(client, ledger);
  }
  return ledger;
}

/**
 * Learn incidents: patch every cached list and detail. Returns the ids whose cached detail
 * changed: their alerts and timeline need a refetch.
 */
export function learnIncidents(client: QueryClient, incidents: readonly Incident[], now = Date.now()): string[] {
  const ledger = ledgerOf(client);
  const fresh: Incident[] = [];
  for (const incident of incidents) {
    const known = ledger.newest.get(incident.id);
    if (known && known.incident.version >= incident.version) continue;
    ledger.newest.set(incident.id, { incident, seenAt: now });
    fresh.push(incident);
  }
  for (const [id, entry] of ledger.newest) {
    if (now - entry.seenAt > RECENT_MS) ledger.newest.delete(id);
  }
  if (fresh.length === 0) return [];

  for (const [key, data] of client.getQueriesData<IncidentList>({ queryKey: incidentKeys.lists() })) {
    if (!data) continue;
    const filters = key[2] as ListFilters;
    const next = mergeIntoList(data, fresh, filters, now);
    if (next !== data) client.setQueryData(key, next);
  }
  const changedDetails: string[] = [];
  for (const incident of fresh) {
    const key = incidentKeys.detail(incident.id);
    const detail = client.getQueryData<IncidentDetail>(key);
    if (detail && detail.version < incident.version) {
      client.setQueryData(key, mergeIntoDetail(detail, incident));
      changedDetails.push(incident.id);
    }
  }
  return changedDetails;
}

/**
 * A list just came from the server: re-apply what was learned recently, in case the read was
 * older than an event that arrived while it was in flight.
 */
export function patchFetchedList(client: QueryClient, key: readonly unknown[], now = Date.now()) {
  const data = client.getQueryData<IncidentList>(key);
  if (!data) return;
  const recent = [...ledgerOf(client).newest.values()]
    .filter((entry) => now - entry.seenAt <= RECENT_MS)
    .map((entry) => entry.incident);
  if (recent.length === 0) return;
  const next = mergeIntoList(data, recent, key[2] as ListFilters, now);
  if (next !== data) client.setQueryData(key, next);
}
