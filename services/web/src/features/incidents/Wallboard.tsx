import { useMemo } from 'react';
import type { Incident } from '../../shared/api/types';
import { pluralize } from '../../shared/lib/format';
import { loadMarks } from '../../shared/lib/loadMarks';
import { Age } from '../../shared/ui/Age';
import { severityStyle } from '../../shared/ui/Severity';
import { SEVERITIES, countBySeverity, groupByService } from './grouping';

const CARD_LIMIT = 48;
const ROWS_PER_CARD = 5;

/**
 * For a NOC screen: totals per severity in large type, then one card per service, most urgent
 * first. No controls, nothing cycles; it changes only when incidents change.
 */
export function Wallboard({ items, loaded }: { items: Incident[]; loaded: boolean }) {
  const groups = useMemo(() => groupByService(items), [items]);
  const totals = useMemo(() => countBySeverity(items), [items]);
  const shown = groups.slice(0, CARD_LIMIT);
  const hiddenServices = groups.length - shown.length;

  return (
    <div {...loadMarks('wallboard', loaded, items.length)} className="space-y-6">
      <ul aria-label="Active incidents by severity" className="grid grid-cols-2 gap-4 lg:grid-cols-4">
        {SEVERITIES.map((severity) => {
          const style = severityStyle[severity];
          const Icon = style.icon;
          return (
            <li key={severity} className={`flex items-center gap-4 rounded-xl px-6 py-4 ${style.chip}`}>
              <Icon aria-hidden="true" className="size-14 shrink-0" strokeWidth={2.25} />
              <div>
                <div className="text-7xl leading-none font-bold tabular-nums">{totals[severity]}</div>
                <div className="mt-1 text-2xl font-semibold tracking-wide uppercase">{style.label}</div>
              </div>
            </li>
          );
        })}
      </ul>
      {loaded && items.length === 0 && (
        <p className="rounded-xl border border-line bg-surface p-10 text-center text-4xl font-semibold text-ok">
          All quiet: no open incidents.
        </p>
      )}
      <div className="grid grid-cols-1 gap-5 lg:grid-cols-2">
        {shown.map((group) => {
          const style = severityStyle[group.worst];
          return (
            <section key={group.service} aria-label={group.service} className="overflow-hidden rounded-xl border border-line bg-surface">
              <div className={`h-2 ${style.bar}`} aria-hidden="true" />
              <div className="flex items-baseline justify-between gap-3 px-5 pt-3">
                <h2 className="truncate text-3xl font-bold">{group.service}</h2>
                <span className="shrink-0 text-2xl text-muted tabular-nums">{pluralize(group.items.length, 'incident')}</span>
              </div>
              <ul className="px-5 pt-1 pb-3">
                {group.items.slice(0, ROWS_PER_CARD).map((incident) => {
                  const s = severityStyle[incident.severity];
                  const Icon = s.icon;
                  return (
                    <li key={incident.id} className="flex items-center gap-3 border-b border-line py-2.5 text-2xl last:border-b-0">
                      <Icon aria-hidden="true" className={`size-8 shrink-0 ${s.text}`} strokeWidth={2.5} />
                      <span className={`w-28 shrink-0 text-lg font-bold uppercase ${s.text}`}>{s.label}</span>
                      <span className="min-w-0 flex-1 truncate">{incident.title}</span>
                      {incident.status === 'acknowledged' ? (
                        <span className="shrink-0 rounded bg-ack-bg px-2 py-0.5 text-lg font-semibold text-ack" title={`Acknowledged by ${incident.acknowledged_by ?? '?'}`}>
                          ACK {incident.acknowledged_by ? `· ${incident.acknowledged_by.split('@')[0]}` : ''}
                        </span>
                      ) : incident.status === 'resolved' ? (
                        <span className="shrink-0 rounded bg-ok-bg px-2 py-0.5 text-lg font-semibold text-ok">RESOLVED</span>
                      ) : null}
                      <Age from={incident.opened_at} className="w-28 shrink-0 text-right text-muted" />
                    </li>
                  );
                })}
                {group.items.length > ROWS_PER_CARD && (
                  <li className="pt-2 text-xl text-muted">+{group.items.length - ROWS_PER_CARD} more</li>
                )}
              </ul>
            </section>
          );
        })}
      </div>
      {hiddenServices > 0 && (
        <p className="text-center text-2xl text-muted">+{pluralize(hiddenServices, 'more service')} with active incidents</p>
      )}
    </div>
  );
}
