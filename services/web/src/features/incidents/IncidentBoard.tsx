import { ChevronDown, ChevronRight } from 'lucide-react';
import { memo, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { Link, useNavigate } from 'react-router';
import { canAct, useIncidentAction, type ActionKind } from '../../shared/api/actions';
import type { Incident } from '../../shared/api/types';
import { pluralize } from '../../shared/lib/format';
import { useHotkeys } from '../../shared/lib/hotkeys';
import { loadMarks } from '../../shared/lib/loadMarks';
import { useSession } from '../../shared/lib/session';
import { Age } from '../../shared/ui/Age';
import { errorText } from '../../shared/ui/ErrorMessage';
import { SeverityBadge, SeverityCount, severityStyle } from '../../shared/ui/Severity';
import { Notice } from '../../shared/ui/Notice';
import { StatusBadge } from '../../shared/ui/Status';
import { VirtualList, type VirtualListHandle } from '../../shared/ui/VirtualList';
import { SEVERITIES, boardRows, groupByService, type BoardRow } from './grouping';
import { useFreshIncidents } from './useFreshIncidents';

const ROW_HEIGHT = { group: 44, incident: 52, more: 40 } as const;

/** What the last action from the board came to. */
interface Outcome {
  tone: 'ok' | 'error';
  text: string;
}

/** What a row offers, with its button's words and its key (on the selected row). */
const ROW_ACTIONS = [
  { kind: 'acknowledge', name: 'Acknowledge', short: 'Ack', key: 'a' },
  { kind: 'resolve', name: 'Resolve', short: 'Resolve', key: 'r' },
] as const satisfies readonly { kind: ActionKind; name: string; short: string; key: string }[];

const actionWords: Record<ActionKind, { verb: string; done: string }> = {
  acknowledge: { verb: 'acknowledge', done: 'Acknowledged' },
  resolve: { verb: 'resolve', done: 'Resolved' },
  reopen: { verb: 'reopen', done: 'Reopened' },
  assign: { verb: 'assign', done: 'Assigned' },
};

/**
 * Open and acknowledged incidents grouped by service, most urgent first. Rows are virtualised and
 * big groups show a preview with a "show all" control, so 5,000 incidents render at once.
 * Keyboard: j/k or arrows select, Enter opens, a acknowledges, r resolves.
 */
export function IncidentBoard({ items, loaded }: { items: Incident[]; loaded: boolean }) {
  const navigate = useNavigate();
  const { name } = useSession();
  const { mutate } = useIncidentAction();
  const groups = useMemo(() => groupByService(items), [items]);
  const [collapsed, setCollapsed] = useState<ReadonlySet<string>>(new Set());
  const [expanded, setExpanded] = useState<ReadonlySet<string>>(new Set());
  const rows = useMemo(() => boardRows(groups, collapsed, expanded), [groups, collapsed, expanded]);
  const [selectedId, setSelectedId] = useState<string | null>(null);
  const [focusId, setFocusId] = useState<string | null>(null);
  const [notice, setNotice] = useState<Outcome | null>(null);
  const [pendingId, setPendingId] = useState<string | null>(null);
  const { fresh, announcement } = useFreshIncidents(loaded ? items : undefined);

  const listRef = useRef<VirtualListHandle>(null);

  const incidentRows = useMemo(() => {
    const indexes: number[] = [];
    rows.forEach((row, index) => row.type === 'incident' && indexes.push(index));
    return indexes;
  }, [rows]);

  const selectedIndex = selectedId ? rows.findIndex((r) => r.type === 'incident' && r.incident.id === selectedId) : -1;
  const selected = selectedIndex >= 0 ? (rows[selectedIndex] as Extract<BoardRow, { type: 'incident' }>).incident : null;

  const move = (delta: number) => {
    if (incidentRows.length === 0) return;
    const at = incidentRows.indexOf(selectedIndex);
    const next = at < 0 ? (delta > 0 ? 0 : incidentRows.length - 1) : Math.min(incidentRows.length - 1, Math.max(0, at + delta));
    const index = incidentRows[next]!;
    const row = rows[index] as Extract<BoardRow, { type: 'incident' }>;
    setSelectedId(row.incident.id);
    setFocusId(row.incident.id);
    listRef.current?.scrollToIndex(index);
  };

  // Focus follows the keyboard selection once its row is rendered, which may take the virtualiser
  // a render or two after scrolling; hence no dependency list.
  // eslint-disable-next-line react-hooks/exhaustive-deps
  useEffect(() => {
    if (!focusId) return;
    const link = listRef.current?.element()?.querySelector<HTMLElement>(`[data-row-link="${focusId}"]`);
    if (link) {
      link.focus({ preventScroll: true });
      setFocusId(null);
    }
  });

  const run = useCallback(
    (kind: ActionKind, incident: Incident) => {
      const words = actionWords[kind];
      if (!canAct(incident.status, kind)) {
        setNotice({ tone: 'error', text: `Cannot ${words.verb} “${incident.title}”: it is ${incident.status}.` });
        return;
      }
      setPendingId(incident.id);
      setNotice(null);
      mutate(
        { id: incident.id, kind, actor: name },
        {
          onSuccess: (updated) => setNotice({ tone: 'ok', text: `${words.done} “${updated.title}”.` }),
          onError: (error) => setNotice({ tone: 'error', text: `Could not ${words.verb} “${incident.title}”: ${errorText(error)}` }),
          onSettled: () => setPendingId(null),
        },
      );
    },
    [mutate, name],
  );

  useHotkeys({
    j: () => move(1),
    ArrowDown: () => move(1),
    k: () => move(-1),
    ArrowUp: () => move(-1),
    Enter: () => selected && navigate(`/incident/${selected.id}`),
    ...Object.fromEntries(ROW_ACTIONS.map(({ key, kind }) => [key, () => selected && run(kind, selected)])),
  });

  const toggleGroup = (service: string) =>
    setCollapsed((current) => {
      const next = new Set(current);
      if (next.has(service)) next.delete(service);
      else next.add(service);
      return next;
    });
  const showAll = (service: string) => setExpanded((current) => new Set([...current, service]));

  const rendered = useRef(false);
  useEffect(() => {
    if (loaded && !rendered.current) {
      rendered.current = true;
      performance.mark('tocsin:dashboard-loaded');
    }
  }, [loaded]);

  return (
    <div>
      <div aria-live="polite" className="sr-only">
        {announcement}
      </div>
      {notice && (
        <Notice tone={notice.tone} className="mb-2">
          {notice.text}
        </Notice>
      )}
      <VirtualList
        ref={listRef}
        rows={rows}
        rowHeight={(row) => ROW_HEIGHT[row.type]}
        rowKey={rowKey}
        {...loadMarks('incident-board', loaded, items.length)}
        className="rounded-lg border border-line bg-surface"
        renderRow={(row) =>
          row.type === 'group' ? (
            <GroupHeader row={row} onToggle={toggleGroup} />
          ) : row.type === 'more' ? (
            <div className="flex h-full items-center border-b border-line px-4">
              <button type="button" className="text-sm text-accent hover:underline" onClick={() => showAll(row.group.service)}>
                Show all {pluralize(row.group.items.length, 'incident')} of {row.group.service} ({row.hidden} more)
              </button>
            </div>
          ) : (
            <IncidentRow
              incident={row.incident}
              selected={row.incident.id === selectedId}
              fresh={fresh.has(row.incident.id)}
              pending={pendingId === row.incident.id}
              onSelect={setSelectedId}
              onAction={run}
            />
          )
        }
      />
    </div>
  );
}

function rowKey(row: BoardRow): string {
  if (row.type === 'group') return `g:${row.group.service}`;
  if (row.type === 'more') return `m:${row.group.service}`;
  return `i:${row.incident.id}`;
}

function GroupHeader({ row, onToggle }: { row: Extract<BoardRow, { type: 'group' }>; onToggle: (service: string) => void }) {
  const { group, collapsed } = row;
  const Chevron = collapsed ? ChevronRight : ChevronDown;
  return (
    <div className="flex h-full items-center gap-3 border-b border-line bg-subtle px-3">
      <h2 className="min-w-0 text-sm font-semibold">
        <button
          type="button"
          aria-expanded={!collapsed}
          onClick={() => onToggle(group.service)}
          className="inline-flex max-w-full items-center gap-1.5 rounded px-1 py-0.5 hover:bg-canvas"
        >
          <Chevron aria-hidden="true" className="size-4 shrink-0 text-muted" />
          <span className="truncate">{group.service}</span>
        </button>
      </h2>
      <span className="text-sm text-muted tabular-nums">{pluralize(group.items.length, 'incident')}</span>
      <span className="ml-auto flex gap-1">
        {SEVERITIES.filter((s) => group.counts[s] > 0).map((s) => (
          <SeverityCount key={s} severity={s} count={group.counts[s]} />
        ))}
      </span>
    </div>
  );
}

interface RowProps {
  incident: Incident;
  selected: boolean;
  fresh: boolean;
  pending: boolean;
  onSelect: (id: string) => void;
  onAction: (kind: ActionKind, incident: Incident) => void;
}

const IncidentRow = memo(
  function IncidentRow({ incident, selected, fresh, pending, onSelect, onAction }: RowProps) {
    const style = severityStyle[incident.severity];
    return (
      <div
        data-incident-id={incident.id}
        data-selected={selected || undefined}
        className={`group flex h-full items-center gap-2 border-b sm:gap-3 border-line pr-3 ${selected ? 'bg-accent/10' : 'hover:bg-subtle/60'} ${
          fresh ? 'fresh' : ''
        }`}
      >
        <span aria-hidden="true" className={`h-full w-1 shrink-0 ${style.bar}`} />
        {/* On a phone the severity is its colour and icon (the word stays for screen readers), the
            status its icon, so that the title keeps most of the row. */}
        <span className="shrink-0 sm:w-24">
          <SeverityBadge severity={incident.severity} wordFromSm />
        </span>
        <div className="min-w-0 flex-1">
          <Link
            to={`/incident/${incident.id}`}
            data-row-link={incident.id}
            onFocus={() => onSelect(incident.id)}
            className="inline-block max-w-full truncate align-top font-medium text-fg hover:underline"
            title={incident.title}
          >
            {incident.title}
            {fresh && <span className="sr-only"> (new)</span>}
          </Link>
          <p className="truncate text-xs text-muted">
            {incident.environment} · {incident.team}
            {incident.firing_count > 0 ? ` · ${incident.firing_count}/${incident.alert_count} firing` : ` · ${incident.alert_count} alerts, none firing`}
            {incident.assignee ? ` · assigned to ${incident.assignee}` : ''}
          </p>
        </div>
        <span className={`hidden gap-1.5 sm:flex ${selected ? '' : 'invisible group-focus-within:visible group-hover:visible'}`}>
          {ROW_ACTIONS.map(({ kind, name, short, key }) => (
            <button
              key={kind}
              type="button"
              disabled={pending || !canAct(incident.status, kind)}
              onClick={() => onAction(kind, incident)}
              className="rounded border border-line bg-surface px-2 py-0.5 text-xs font-medium hover:bg-subtle disabled:opacity-40"
              aria-label={`${name} ${incident.title}`}
            >
              {short} <kbd className="text-muted">{key}</kbd>
            </button>
          ))}
        </span>
        <StatusBadge status={incident.status} wordFromSm />
        <Age from={incident.opened_at} className="w-12 shrink-0 text-right text-sm text-muted sm:w-16" />
      </div>
    );
  },
  (a, b) =>
    a.incident.id === b.incident.id &&
    a.incident.version === b.incident.version &&
    a.selected === b.selected &&
    a.fresh === b.fresh &&
    a.pending === b.pending &&
    a.onAction === b.onAction,
);
