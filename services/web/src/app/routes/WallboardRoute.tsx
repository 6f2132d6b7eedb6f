import { useQuery } from '@tanstack/react-query';
import { useMemo } from 'react';
import { describeFilters } from '../../features/filters/describe';
import { isDefault } from '../../features/filters/codec';
import { useFilters } from '../../features/filters/useFilters';
import { Wallboard } from '../../features/incidents/Wallboard';
import { ConnectionBadge } from '../../features/live/ConnectionBadge';
import { usePollInterval } from '../../shared/api/connection';
import { incidentListOptions } from '../../shared/api/incidents';
import { useNow } from '../../shared/lib/clock';
import { formatTime } from '../../shared/lib/format';
import { Brand, useDocumentTitle } from '../../shared/ui/Brand';
import { SkipLink } from '../../shared/ui/SkipLink';
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

  useDocumentTitle(`(${items.length}) Wallboard`);

  return (
    <div className="min-h-screen bg-canvas p-6 text-fg">
      <SkipLink to="/">Leave the wallboard</SkipLink>
      <header className="mb-6 flex flex-wrap items-center gap-x-6 gap-y-2">
        <Brand large />
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
