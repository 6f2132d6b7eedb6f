import { useInfiniteQuery, useQuery } from '@tanstack/react-query';
import { ExternalLink } from 'lucide-react';
import { useState, type ReactNode } from 'react';
import { incidentMoreOptions, type EntryList } from '../../shared/api/incidents';
import { onCallNowOptions } from '../../shared/api/oncall';
import type { AlertRecord, IncidentDetail, TimelineEntry } from '../../shared/api/types';
import { describeDuration, formatDateTime, formatDuration, formatShiftTime } from '../../shared/lib/format';
import { Age } from '../../shared/ui/Age';
import { Button } from '../../shared/ui/Button';
import { ErrorMessage } from '../../shared/ui/ErrorMessage';
import { Markdown } from '../../shared/ui/Markdown';
import { SeverityBadge, severityStyle } from '../../shared/ui/Severity';
import { StatusBadge } from '../../shared/ui/Status';
import { ActionBar } from './ActionBar';
import { EscalationStatus } from './EscalationStatus';
import { NoteForm } from './NoteForm';

/** Everything about one incident: what, where, who, its alerts and its timeline. */
export function IncidentView({ incident }: { incident: IncidentDetail }) {
  const style = severityStyle[incident.severity];
  const labels = Object.entries(incident.source_alert.labels).sort(([a], [b]) => a.localeCompare(b));
  return (
    // pb-24 on a phone: room below the content for ActionBar's bar fixed along the bottom.
    <div className="space-y-5 max-sm:pb-24">
      <header className="overflow-hidden rounded-lg border border-line bg-surface">
        <div className={`h-1.5 ${style.bar}`} aria-hidden="true" />
        <div className="space-y-3 p-4">
          <div className="flex flex-wrap items-center gap-2">
            <SeverityBadge severity={incident.severity} size="lg" />
            <StatusBadge status={incident.status} />
            <span className="text-sm text-muted">
              opened <Age from={incident.opened_at} /> ago · {formatDateTime(incident.opened_at)}
            </span>
          </div>
          <h1 tabIndex={-1} className="text-2xl leading-tight font-semibold outline-none">
            {incident.title}
          </h1>
          <ActionBar incident={incident} />
        </div>
      </header>

      {/* min-w-0: a grid item is otherwise as wide as its widest content, and the alerts table
          would push the page past a phone's width instead of scrolling inside its panel. */}
      <div className="grid grid-cols-[minmax(0,1fr)] gap-5 lg:grid-cols-3">
        <div className="min-w-0 space-y-5 lg:col-span-1">
          <Panel id="facts" title="Details">
            <dl className="grid grid-cols-[max-content_1fr] gap-x-4 gap-y-1.5 text-sm">
              <Fact name="Service" value={incident.service} />
              <Fact name="Environment" value={incident.environment} />
              <Fact name="Team" value={incident.team} />
              <OnCallFact team={incident.team} />
              <Fact name="Assignee" value={incident.assignee ?? 'nobody'} muted={!incident.assignee} />
              <Fact name="Alerts" value={`${incident.firing_count} firing of ${incident.alert_count}`} />
              <Fact
                name="Acknowledged"
                value={incident.acknowledged_at ? `${formatDateTime(incident.acknowledged_at)} by ${incident.acknowledged_by ?? '?'}` : 'not yet'}
                muted={!incident.acknowledged_at}
              />
              <Fact
                name="Resolved"
                value={incident.resolved_at ? `${formatDateTime(incident.resolved_at)} by ${incident.resolved_by ?? '?'}` : 'not yet'}
                muted={!incident.resolved_at}
              />
              {incident.acknowledged_at && (
                <Fact name="Time to ack" value={span(incident.opened_at, incident.acknowledged_at)} />
              )}
              {incident.resolved_at && <Fact name="Time to resolve" value={span(incident.opened_at, incident.resolved_at)} />}
              <Fact name="Version" value={String(incident.version)} muted />
            </dl>
            {incident.runbook_url && (
              <a
                href={incident.runbook_url}
                target="_blank"
                rel="noreferrer"
                className="mt-4 inline-flex items-center gap-1.5 rounded-md border border-line px-3 py-1.5 text-sm font-medium text-accent hover:bg-subtle"
              >
                Runbook <ExternalLink aria-hidden="true" className="size-3.5" />
                <span className="sr-only">(opens in a new tab)</span>
              </a>
            )}
            <h3 className="mt-5 mb-2 text-sm font-semibold tracking-wide text-muted uppercase">Labels</h3>
            <ul aria-label="Labels of the first alert" className="flex flex-wrap gap-1.5">
              {labels.map(([key, value]) => (
                <li key={key} className="rounded border border-line bg-subtle px-1.5 py-0.5 font-mono text-xs break-all">
                  <span className="text-muted">{key}=</span>
                  {value}
                </li>
              ))}
            </ul>
          </Panel>
          <EscalationStatus escalation={incident.escalation} now={Date.now()} />
        </div>

        <div className="min-w-0 space-y-5 lg:col-span-2">
          <AlertsTable incident={incident} />
          <Timeline incident={incident} />
        </div>
      </div>
    </div>
  );
}

function span(from: string, to: string) {
  const ms = Date.parse(to) - Date.parse(from);
  return `${formatDuration(ms)} (${describeDuration(ms)})`;
}

/**
 * A card named by its heading. Its content is inset, unless `flush` (a table that runs to the
 * card's edges; the heading keeps the inset).
 */
function Panel({
  id,
  title,
  flush = false,
  className = '',
  children,
}: {
  id: string;
  title: string;
  flush?: boolean;
  className?: string;
  children: ReactNode;
}) {
  return (
    <section aria-labelledby={id} className={`rounded-lg border border-line bg-surface ${flush ? '' : 'p-4'} ${className}`}>
      <h2 id={id} className={`${flush ? 'px-4 pt-4 pb-2' : 'mb-3'} text-sm font-semibold tracking-wide text-muted uppercase`}>
        {title}
      </h2>
      {children}
    </section>
  );
}

function Fact({ name, value, muted = false }: { name: string; value: string; muted?: boolean }) {
  return (
    <>
      <dt className="text-muted">{name}</dt>
      <dd className={`min-w-0 break-words ${muted ? 'text-muted' : 'font-medium'}`}>{value}</dd>
    </>
  );
}

/**
 * Who is on call now in the owning team's schedules: the people an escalation to "whoever is on
 * call" reaches. From `GET /oncall`, the on-call page's own answer (shared in the cache, asked once
 * a minute), rather than `?team=`, which refuses a team the API does not know with 400, and alerts
 * name teams freely. A team without a schedule says so.
 */
function OnCallFact({ team }: { team: string }) {
  const oncall = useQuery(onCallNowOptions());
  let value = 'no schedule';
  let muted = true;
  if (oncall.isPending) value = '…';
  const people = (oncall.data?.items ?? []).filter((entry) => entry.schedule.team === team).map((entry) =>
    entry.user
      ? `${entry.user.name} (${entry.schedule.name}${entry.until ? `, until ${formatShiftTime(entry.until)}` : ''})`
      : `nobody (${entry.schedule.name})`,
  );
  if (people.length) {
    value = people.join('; ');
    muted = false;
  }
  return <Fact name="On call" value={value} muted={muted} />;
}

/**
 * One of the incident's lists: the first page, which the detail holds, then the pages after it,
 * none until the user asks and then one more per "Load more".
 */
function useMore<L extends EntryList>(incident: IncidentDetail, list: L) {
  const after = (list === 'alerts' ? incident.alerts_next_cursor : incident.timeline_next_cursor) ?? null;
  const [wanted, setWanted] = useState(false);
  const more = useInfiniteQuery({ ...incidentMoreOptions(incident.id, list, after ?? ''), enabled: wanted && after !== null });
  type Entry = L extends 'alerts' ? AlertRecord : TimelineEntry;
  const later = (more.data?.pages ?? []).flatMap((page) => page.items as Entry[]);
  return {
    items: [...(incident[list] as Entry[]), ...later],
    /** Whether there is more than is shown. */
    more: after !== null && (!more.data || more.hasNextPage),
    loading: more.isFetching,
    error: more.error,
    load: () => (wanted ? void more.fetchNextPage() : setWanted(true)),
  };
}

function LoadMore({ what, pages, className }: { what: string; pages: ReturnType<typeof useMore>; className: string }) {
  if (!pages.more && !pages.error) return null;
  return (
    <div className={`flex flex-wrap items-center gap-3 ${className}`}>
      {pages.more && (
        <Button onClick={pages.load} disabled={pages.loading}>
          {pages.loading ? `Loading more ${what}…` : `Load more ${what}`}
        </Button>
      )}
      {pages.error && <ErrorMessage error={pages.error} />}
    </div>
  );
}

function AlertsTable({ incident }: { incident: IncidentDetail }) {
  const more = useMore(incident, 'alerts');
  const alerts = more.items;
  return (
    <Panel id="alerts" title={`Alerts (${incident.alert_count})`} flush>
      {alerts.length < incident.alert_count && (
        <p className="px-4 pb-2 text-sm text-muted">
          Showing the first {alerts.length} of {incident.alert_count}, oldest first.
        </p>
      )}
      {/* relative: the links' screen-reader text is absolutely positioned, and without a containing
          block here it would escape this box's scrolling and widen the page on a phone. */}
      <div className="relative overflow-x-auto">
        <table className="w-full text-left text-sm">
          <thead className="border-y border-line bg-subtle text-xs text-muted uppercase">
            <tr>
              <th scope="col" className="px-4 py-2 font-semibold">State</th>
              <th scope="col" className="px-2 py-2 font-semibold">Alert</th>
              <th scope="col" className="px-2 py-2 font-semibold">Started</th>
              <th scope="col" className="px-2 py-2 font-semibold">Ended</th>
              <th scope="col" className="px-2 py-2 font-semibold">Last report</th>
              <th scope="col" className="px-4 py-2 font-semibold">
                <span className="sr-only">Links</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {alerts.map((alert) => (
              <tr key={`${alert.fingerprint}:${alert.starts_at}`} className="border-b border-line last:border-b-0">
                <td className="px-4 py-2">
                  <span
                    className={`inline-flex items-center gap-1 rounded px-1.5 py-0.5 text-xs font-semibold ${
                      alert.state === 'firing' ? 'bg-danger-bg text-danger' : 'bg-ok-bg text-ok'
                    }`}
                  >
                    <span aria-hidden="true">{alert.state === 'firing' ? '●' : '✓'}</span>
                    {alert.state === 'firing' ? 'Firing' : 'Resolved'}
                  </span>
                </td>
                <td className="px-2 py-2">
                  <div className="font-medium">{alert.labels.alertname ?? alert.fingerprint}</div>
                  <div className="text-xs text-muted">
                    {alert.labels.instance ?? ''}
                    {alert.annotations.summary ? ` · ${alert.annotations.summary}` : ''}
                  </div>
                </td>
                <td className="px-2 py-2 whitespace-nowrap tabular-nums">{formatDateTime(alert.starts_at)}</td>
                <td className="px-2 py-2 whitespace-nowrap tabular-nums">{alert.ends_at ? formatDateTime(alert.ends_at) : '—'}</td>
                <td className="px-2 py-2 whitespace-nowrap tabular-nums">{formatDateTime(alert.last_received_at)}</td>
                <td className="px-4 py-2 whitespace-nowrap">
                  {alert.generator_url && (
                    <a href={alert.generator_url} target="_blank" rel="noreferrer" className="inline-flex items-center gap-1 text-accent hover:underline">
                      Source <ExternalLink aria-hidden="true" className="size-3" />
                      <span className="sr-only">graph of {alert.labels.alertname ?? 'this alert'} (opens in a new tab)</span>
                    </a>
                  )}
                  {alert.annotations.runbook_url && (
                    <a
                      href={alert.annotations.runbook_url}
                      target="_blank"
                      rel="noreferrer"
                      className="ml-3 inline-flex items-center gap-1 text-accent hover:underline"
                    >
                      Runbook <ExternalLink aria-hidden="true" className="size-3" />
                      <span className="sr-only">for {alert.labels.alertname ?? 'this alert'} (opens in a new tab)</span>
                    </a>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <LoadMore what="alerts" pages={more} className="px-4 py-3" />
    </Panel>
  );
}

const kindWords: Record<TimelineEntry['kind'], string> = {
  opened: 'Opened',
  alert_added: 'Alert added',
  alert_resolved: 'Alert resolved',
  acknowledged: 'Acknowledged',
  resolved: 'Resolved',
  reopened: 'Reopened',
  assigned: 'Assigned',
  paged: 'Paged',
  in_maintenance: 'In maintenance',
  maintenance_ended: 'Maintenance ended',
  note_added: 'Note',
  edited: 'Edited',
};

const kindDot: Record<TimelineEntry['kind'], string> = {
  opened: 'bg-danger',
  alert_added: 'bg-sev-high-bar',
  alert_resolved: 'bg-ok',
  acknowledged: 'bg-ack',
  resolved: 'bg-ok',
  reopened: 'bg-danger',
  assigned: 'bg-accent',
  paged: 'bg-danger',
  // Quiet, then loud: held by a window, then notified when it ended while still firing.
  in_maintenance: 'bg-accent',
  maintenance_ended: 'bg-danger',
  note_added: 'bg-muted',
  edited: 'bg-accent',
};

function Timeline({ incident }: { incident: IncidentDetail }) {
  const more = useMore(incident, 'timeline');
  const entries = more.items;
  return (
    <Panel id="timeline" title="Timeline">
      <ol className="relative ml-2 border-l-2 border-line">
        {entries.map((entry, index) => (
          <li key={`${entry.at}:${entry.kind}:${index}`} className="relative pb-3 pl-5 last:pb-0">
            <span aria-hidden="true" className={`absolute top-1.5 -left-[7px] size-3 rounded-full ring-2 ring-surface ${kindDot[entry.kind]}`} />
            <div className="flex flex-wrap items-baseline gap-x-2 text-sm">
              <time dateTime={entry.at} className="text-muted tabular-nums">
                {formatDateTime(entry.at)}
              </time>
              <strong className="font-semibold">{kindWords[entry.kind]}</strong>
              <span className="text-muted">by {entry.actor}</span>
              {entry.status && <StatusBadge status={entry.status} />}
            </div>
            <TimelineDetail detail={entry.detail} />
          </li>
        ))}
      </ol>
      <LoadMore what="timeline entries" pages={more} className="pt-3" />
      <NoteForm incident={incident} />
    </Panel>
  );
}

interface FromTo {
  from: string;
  to: string;
}

function TimelineDetail({ detail }: { detail: unknown }) {
  if (!detail || typeof detail !== 'object') return null;
  const d = detail as {
    alert?: { alertname?: string; instance?: string; state?: string };
    reason?: string;
    assignee?: string | null;
    text?: string;
    title?: FromTo;
    severity?: FromTo;
  };
  if (typeof d.text === 'string') return <Markdown text={d.text} />;
  const parts: string[] = [];
  if (d.severity) parts.push(`severity: ${d.severity.from} → ${d.severity.to}`);
  if (d.title) parts.push(`title: “${d.title.from}” → “${d.title.to}”`);
  if (d.alert) parts.push([d.alert.alertname, d.alert.instance, d.alert.state].filter(Boolean).join(' · '));
  if (d.reason) parts.push(d.reason);
  if ('assignee' in d) parts.push(d.assignee ? `to ${d.assignee}` : 'assignment cleared');
  if (parts.length === 0) return null;
  return <p className="text-sm text-muted">{parts.join(' — ')}</p>;
}
