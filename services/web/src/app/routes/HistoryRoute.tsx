import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useMemo } from 'react';
import { FilterBar } from '../../features/filters/FilterBar';
import { useFilters } from '../../features/filters/useFilters';
import { HistoryTimeline } from '../../features/history/HistoryTimeline';
import { usePollInterval } from '../../shared/api/connection';
import { NO_FILTERS, type ListFilters } from '../../shared/api/filters';
import { incidentListOptions, LIST_CAP } from '../../shared/api/incidents';
import { useSession } from '../../shared/lib/session';
import { useDocumentTitle } from '../../shared/ui/Brand';
import { ErrorMessage } from '../../shared/ui/ErrorMessage';
import { Notice } from '../../shared/ui/Notice';

export const HISTORY_DEFAULTS: ListFilters = { ...NO_FILTERS, status: ['resolved'], range: '7d' };

export function HistoryRoute() {
  const [urlFilters, setFilters] = useFilters(HISTORY_DEFAULTS);
  const { person } = useSession();
  // History is resolved incidents, whatever the address says.
  const filters = useMemo(() => ({ ...urlFilters, status: HISTORY_DEFAULTS.status }), [urlFilters]);
  const list = useQuery({ ...incidentListOptions(filters), placeholderData: keepPreviousData, refetchInterval: usePollInterval() });
  const items = useMemo(() => list.data?.items ?? [], [list.data]);

  useDocumentTitle('History');

  return (
    <div className="space-y-3">
      <h1 tabIndex={-1} className="text-xl font-semibold outline-none">
        History
      </h1>
      <FilterBar filters={filters} defaults={HISTORY_DEFAULTS} onChange={setFilters} myTeams={person?.teams.map((team) => team.slug)} />
      {list.isError && <ErrorMessage error={list.error} title="Could not load the history" />}
      {list.data && !list.data.complete && (
        <Notice tone="info">
          Showing the newest {LIST_CAP.toLocaleString('en')} resolved incidents only; MTTA and MTTR cover those. Narrow the range to
          see the rest.
        </Notice>
      )}
      {list.isPending && <p className="py-10 text-center text-muted">Loading resolved incidents…</p>}
      {list.data && <HistoryTimeline items={items} loaded={list.isSuccess && !list.isPlaceholderData} />}
    </div>
  );
}
