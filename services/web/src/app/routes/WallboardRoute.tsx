import { useQuery } from '@tanstack/react-query';
import { useEffect, useMemo } from 'react';
import { Link } from 'react-router';
import { describeFilters } from '../../features/filters/describe';
import { isDefault } from '../../features/filters/codec';
import { useFilters } from '../../features/filters/useFilters';
import { Wallboard } from '../../features/incidents/Wallboard';
import { ConnectionBadge } from '../../features/live/ConnectionBadge';
import { usePollInterval } from '../../shared/api/connection';
import { incidentListOptions } from '../../shared/api/incidents';
import { useNow } from '../../shared/lib/clock';
import { formatTime } from '../../shared/lib/format';
import { DASHBOARD_DEFAULTS } from './DashboardRoute';

/**
 * The NOC screen: full window, large type, no controls. It takes the same filters in its address
 * as the dashboard (`/wallboard?team=platform`), stays live, and never cycles by itself.
 */
export function WallboardRoute() {
  const [filters] = useFilters(DASHBOARD_DEFAULTS);
  const list = useQuery({ ...incidentListOptions(filters), refetchInterval: usePollInterval() });
  const items = useMemo(() => list.data?.items ?? [], [list.data]);
  const now = useNow();

  useEffect(() => {
    document.title = `(${items.length}) Wallboard · tocsin`;
  }, [items.length]);

  return (
    <div className="min-h-screen bg-canvas p-6 text-fg">
      <Link
        to="/"
        className="sr-only z-50 rounded bg-accent px-3 py-2 text-accent-fg focus:not-sr-only focus:fixed focus:top-2 focus:left-2"
      >
        Leave the wallboard
      </Link>
      <header className="mb-6 flex flex-wrap items-center gap-x-6 gap-y-2">
        <span className="flex items-center gap-2 text-3xl font-bold">
          <span aria-hidden="true" className="size-5 rounded-full bg-sev-critical-bar" />
          tocsin
        </span>
        <h1 className="text-4xl font-semibold">Active incidents</h1>
        {!isDefault(filters, DASHBOARD_DEFAULTS) && <p className="text-lg text-muted">{describeFilters(filters)}</p>}
        <div className="ml-auto flex items-center gap-4">
          <ConnectionBadge large />
          <time className="text-4xl font-semibold tabular-nums">{formatTime(now)}</time>
        </div>
      </header>
      <main>
        {list.isError && <p role="alert" className="text-2xl text-danger">Cannot load incidents: {list.error.message}</p>}
        {list.data && <Wallboard items={items} loaded={list.isSuccess} />}
      </main>
    </div>
  );
}
