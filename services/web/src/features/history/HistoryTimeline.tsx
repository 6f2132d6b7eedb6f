import { useMemo } from 'react';
import { Link } from 'react-router';
import type { Incident } from '../../shared/api/types';
import { describeDuration, formatDay, formatDuration, formatTime } from '../../shared/lib/format';
import { loadMarks } from '../../shared/lib/loadMarks';
import { SeverityBadge, severityStyle } from '../../shared/ui/Severity';
import { VirtualList } from '../../shared/ui/VirtualList';
import { responseStats, timeToAcknowledge, timeToResolve } from './metrics';

type Row = { type: 'day'; day: string; count: number } | { type: 'incident'; incident: Incident };

const HEIGHT = { day: 40, incident: 56 } as const;

/** Resolved incidents, newest resolution first, by day, each with its TTA and TTR. */
export function HistoryTimeline({ items, loaded }: { items: Incident[]; loaded: boolean }) {
  const stats = useMemo(() => responseStats(items), [items]);
  const rows = useMemo(() => historyRows(items), [items]);
  // The bar scale: the slowest resolution in view, so bars compare within the set.
  const scale = useMemo(() => Math.max(1, ...items.map((i) => timeToResolve(i) ?? 0)), [items]);

  return (
    <div className="space-y-4">
      <dl aria-label="Response times for the incidents shown" className="grid grid-cols-2 gap-3 md:grid-cols-4">
        <Stat name="Resolved incidents" value={stats.count.toLocaleString('en')} />
        <Stat
          name="MTTA"
          value={stats.mtta === null ? '—' : formatDuration(stats.mtta)}
          hint={stats.mtta === null ? 'none acknowledged' : `mean over ${stats.acknowledged} acknowledged`}
          testId="mtta"
        />
        <Stat name="MTTR" value={stats.mttr === null ? '—' : formatDuration(stats.mttr)} hint="mean time to resolve" testId="mttr" />
        <Stat name="Median TTR" value={stats.medianTtr === null ? '—' : formatDuration(stats.medianTtr)} />
      </dl>
      {loaded && items.length === 0 && <p className="rounded-lg border border-line bg-surface p-6 text-center text-muted">No resolved incidents match.</p>}
      <VirtualList
        as="ol"
        rows={rows}
        rowHeight={(row) => HEIGHT[row.type]}
        rowKey={(row) => (row.type === 'day' ? `d:${row.day}` : `i:${row.incident.id}`)}
        aria-label="Resolved incidents"
        {...loadMarks('history', loaded, items.length)}
        className="rounded-lg border border-line bg-surface"
        renderRow={(row) =>
          row.type === 'day' ? (
            <h2 className="flex h-full items-center justify-between border-b border-line bg-subtle px-4 text-sm font-semibold">
              {row.day}
              <span className="font-normal text-muted">{row.count} resolved</span>
            </h2>
          ) : (
            <HistoryRow incident={row.incident} scale={scale} />
          )
        }
      />
    </div>
  );
}

function historyRows(items: readonly Incident[]): Row[] {
  const sorted = [...items].sort(
    (a, b) => Date.parse(b.resolved_at ?? b.updated_at) - Date.parse(a.resolved_at ?? a.updated_at) || (a.id < b.id ? -1 : 1),
  );
  const rows: Row[] = [];
  let day = '';
  let header: Extract<Row, { type: 'day' }> | null = null;
  for (const incident of sorted) {
    const d = formatDay(incident.resolved_at ?? incident.updated_at);
    if (d !== day || !header) {
      day = d;
      header = { type: 'day', day: d, count: 0 };
      rows.push(header);
    }
    header.count++;
    rows.push({ type: 'incident', incident });
  }
  return rows;
}

function HistoryRow({ incident, scale }: { incident: Incident; scale: number }) {
  const tta = timeToAcknowledge(incident);
  const ttr = timeToResolve(incident) ?? 0;
  const style = severityStyle[incident.severity];
  const width = (ms: number) => `${Math.max(1.5, (Math.sqrt(ms) / Math.sqrt(scale)) * 100)}%`;
  return (
    <div className="flex h-full items-center gap-3 border-b border-line px-4">
      <time dateTime={incident.resolved_at ?? undefined} className="w-16 shrink-0 text-sm text-muted tabular-nums">
        {incident.resolved_at ? formatTime(incident.resolved_at) : ''}
      </time>
      <span className="w-24 shrink-0">
        <SeverityBadge severity={incident.severity} />
      </span>
      <div className="min-w-0 flex-1">
        <Link to={`/incident/${incident.id}`} className="block truncate font-medium hover:underline" title={incident.title}>
          {incident.title}
        </Link>
        <p className="truncate text-xs text-muted">
          {incident.service} · {incident.environment} · resolved by {incident.resolved_by ?? '?'}
        </p>
      </div>
      <div className="hidden w-56 shrink-0 md:block" aria-hidden="true">
        <div className="relative h-2.5 rounded-full bg-subtle">
          <div className={`absolute inset-y-0 left-0 rounded-full opacity-70 ${style.bar}`} style={{ width: width(ttr) }} />
          {tta !== null && <div className="absolute -top-0.5 h-3.5 w-1 rounded bg-ack" style={{ left: width(tta) }} />}
        </div>
      </div>
      <dl className="grid w-40 shrink-0 grid-cols-[auto_1fr] gap-x-2 text-xs tabular-nums">
        <dt className="text-muted">TTA</dt>
        <dd title={tta === null ? 'not acknowledged' : describeDuration(tta)}>{tta === null ? 'not acked' : formatDuration(tta)}</dd>
        <dt className="text-muted">TTR</dt>
        <dd title={describeDuration(ttr)} className="font-semibold">
          {formatDuration(ttr)}
        </dd>
      </dl>
    </div>
  );
}

function Stat({ name, value, hint, testId }: { name: string; value: string; hint?: string; testId?: string }) {
  return (
    <div className="rounded-lg border border-line bg-surface px-4 py-3">
      <dt className="text-xs font-semibold tracking-wide text-muted uppercase">{name}</dt>
      <dd className="text-2xl font-semibold tabular-nums" data-testid={testId}>
        {value}
      </dd>
      {hint && <dd className="text-xs text-muted">{hint}</dd>}
    </div>
  );
}
