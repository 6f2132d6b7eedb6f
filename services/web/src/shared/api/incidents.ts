// Reading incidents: the query key factory and the query options every hook, prefetch and test
// uses. Server state lives only in TanStack Query.
import { infiniteQueryOptions, queryOptions } from '@tanstack/react-query';
import { apiRequest } from './client';
import { toApiParams, type ListFilters } from './filters';
import { SEVERITIES, type AlertPage, type Incident, type IncidentDetail, type IncidentPage, type TimelinePage } from './types';

export const PAGE_SIZE = 500;
/** Alerts or timeline entries per "Load more" on the incident page. */
export const ENTRY_PAGE_SIZE = 100;
/** A list stops paging after this many incidents and says so. */
export const LIST_CAP = 20_000;

export interface IncidentList {
  items: Incident[];
  /** False when the list stopped at LIST_CAP. */
  complete: boolean;
}

export const incidentKeys = {
  all: ['incidents'] as const,
  lists: () => [...incidentKeys.all, 'list'] as const,
  list: (filters: ListFilters) => [...incidentKeys.lists(), filters] as const,
  details: () => [...incidentKeys.all, 'detail'] as const,
  detail: (id: string) => [...incidentKeys.details(), id] as const,
  /**
   * The incident's alerts or timeline after the first page the detail holds, from `after` (the
   * detail's cursor) on. Under the detail's key, so whatever refetches the detail refetches these.
   */
  more: (id: string, list: EntryList, after: string) => [...incidentKeys.detail(id), list, after] as const,
};

export type EntryList = 'alerts' | 'timeline';

/**
 * Every incident that matches. Keyset pages must be read one after the other, so the list is
 * split by severity and the chains are read side by side: 5,000 incidents arrive in about a
 * quarter of the time. The API's order (newest first) is kept.
 */
export async function fetchAllIncidents(filters: ListFilters, signal?: AbortSignal): Promise<IncidentList> {
  const now = Date.now();
  const severities = filters.severity.length ? filters.severity : SEVERITIES;
  const chains = await Promise.all(severities.map((severity) => fetchChain({ ...filters, severity: [severity] }, now, signal)));
  const byId = new Map<string, Incident>();
  for (const chain of chains) for (const item of chain.items) byId.set(item.id, item);
  const items = [...byId.values()].sort(
    (a, b) => Date.parse(b.opened_at) - Date.parse(a.opened_at) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0),
  );
  return { items: items.slice(0, LIST_CAP), complete: chains.every((c) => c.complete) && items.length <= LIST_CAP };
}

/** One filter's incidents, following `next_cursor` page by page. */
async function fetchChain(filters: ListFilters, now: number, signal?: AbortSignal): Promise<IncidentList> {
  const params = toApiParams(filters, now);
  params.set('limit', String(PAGE_SIZE));
  const items: Incident[] = [];
  let cursor: string | null | undefined = null;
  do {
    if (cursor) params.set('cursor', cursor);
    const page: IncidentPage = await apiRequest<IncidentPage>(`/incidents?${params}`, { signal });
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && items.length < LIST_CAP);
  return { items, complete: !cursor };
}

export function incidentListOptions(filters: ListFilters) {
  return queryOptions({
    queryKey: incidentKeys.list(filters),
    queryFn: ({ signal }) => fetchAllIncidents(filters, signal),
  });
}

export function incidentDetailOptions(id: string) {
  return queryOptions({
    queryKey: incidentKeys.detail(id),
    queryFn: ({ signal }) => apiRequest<IncidentDetail>(`/incidents/${encodeURIComponent(id)}`, { signal }),
  });
}

/**
 * The pages of an incident's alerts or timeline after the detail's first one, one "Load more" at a
 * time: `after` is the detail's `alerts_next_cursor` or `timeline_next_cursor`.
 */
export function incidentMoreOptions<L extends EntryList>(id: string, list: L, after: string) {
  type Page = L extends 'alerts' ? AlertPage : TimelinePage;
  return infiniteQueryOptions({
    queryKey: incidentKeys.more(id, list, after),
    queryFn: ({ pageParam, signal }) =>
      apiRequest<Page>(
        `/incidents/${encodeURIComponent(id)}/${list}?limit=${ENTRY_PAGE_SIZE}&cursor=${encodeURIComponent(pageParam)}`,
        { signal },
      ),
    initialPageParam: after,
    getNextPageParam: (page: Page) => page.next_cursor ?? undefined,
  });
}

/** Check a token before keeping it: one cheap read with it. */
export async function checkToken(token: string): Promise<void> {
  await apiRequest<IncidentPage>('/incidents?limit=1', { token });
}
