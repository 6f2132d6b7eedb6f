import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { CircleCheck } from 'lucide-react';
import { useMemo } from 'react';
import { FilterBar, type FilterSuggestions } from '../../features/filters/FilterBar';
import { useFilters } from '../../features/filters/useFilters';
import { countBySeverity, SEVERITIES } from '../../features/incidents/grouping';
import { IncidentBoard } from '../../features/incidents/IncidentBoard';
import { usePollInterval } from '../../shared/api/connection';
import { NO_FILTERS, type ListFilters } from '../../shared/api/filters';
import { incidentListOptions, LIST_CAP } from '../../shared/api/incidents';
import type { Incident } from '../../shared/api/types';
import { pluralize } from '../../shared/lib/format';
import { useSession } from '../../shared/lib/session';
import { useDocumentTitle } from '../../shared/ui/Brand';
import { ErrorMessage } from '../../shared/ui/ErrorMessage';
import { Notice } from '../../shared/ui/Notice';
import { SeverityCount } from '../../shared/ui/Severity';

export const DASHBOARD_DEFAULTS: ListFilters = { ...NO_FILTERS, status: ['open', 'acknowledged'] };

export function DashboardRoute() {
  const [filters, setFilters] = useFilters(DASHBOARD_DEFAULTS);
  const { person } = useSession();
  const list = useQuery({ ...incidentListOptions(filters), placeholderData: keepPreviousData, refetchInterval: usePollInterval() });
  const items = useMemo(() => list.data?.items ?? [], [list.data]);
  const counts = useMemo(() => countBySeverity(items), [items]);
  const suggestions = useMemo(() => suggestionsOf(items), [items]);
  const loaded = list.isSuccess && !list.isPlaceholderData;

  useDocumentTitle(loaded && items.length ? `(${items.length}) Incidents` : 'Incidents');

  return (
    <div className="space-y-3">
      <div className="flex flex-wrap items-center gap-x-4 gap-y-1">
        <h1 tabIndex={-1} className="text-xl font-semibold outline-none">
          Incidents
        </h1>
        {list.data && (
          <p className="flex items-center gap-2 text-sm text-muted">
            <span className="font-medium text-fg">{pluralize(items.length, 'incident')}</span>
            {SEVERITIES.filter((s) => counts[s] > 0).map((s) => (
              <SeverityCount key={s} severity={s} count={counts[s]} />
            ))}
          </p>
        )}
        <p className="ml-auto hidden text-xs text-muted md:block">
          <kbd className="rounded border border-line px-1">j</kbd>/<kbd className="rounded border border-line px-1">k</kbd> select ·{' '}
          <kbd className="rounded border border-line px-1">a</kbd> ack · <kbd className="rounded border border-line px-1">r</kbd> resolve ·{' '}
          <kbd className="rounded border border-line px-1">?</kbd> all shortcuts
        </p>
      </div>
      <FilterBar
        filters={filters}
        defaults={DASHBOARD_DEFAULTS}
        onChange={setFilters}
        statuses={['open', 'acknowledged', 'resolved']}
        suggestions={suggestions}
        myTeams={person?.teams.map((team) => team.slug)}
      />
      {list.isError && <ErrorMessage error={list.error} title="Could not load incidents" />}
      {list.data && !list.data.complete && (
        <Notice tone="info">Showing the newest {LIST_CAP.toLocaleString('en')} incidents only. Narrow the filters to see the rest.</Notice>
      )}
      {list.isPending && <p className="py-10 text-center text-muted">Loading incidents…</p>}
      {loaded && items.length === 0 && (
        <p className="flex flex-col items-center gap-2 rounded-lg border border-line bg-surface py-12 text-center text-lg">
          <CircleCheck aria-hidden="true" className="size-8 text-ok" />
          No incidents match. All quiet.
        </p>
      )}
      {/* A new filter is a new board: what counts as "new" and what is collapsed start over. */}
      {list.data && <IncidentBoard key={JSON.stringify(filters)} items={items} loaded={loaded} />}
    </div>
  );
}

function suggestionsOf(items: readonly Incident[]): FilterSuggestions {
  const values = (pick: (i: Incident) => string) => [...new Set(items.map(pick))].sort();
  return { service: values((i) => i.service), environment: values((i) => i.environment), team: values((i) => i.team) };
}
