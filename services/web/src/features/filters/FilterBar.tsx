import { useState, type ReactNode } from 'react';
import type { ListFilters } from '../../shared/api/filters';
import { SEVERITIES, type IncidentStatus } from '../../shared/api/types';
import { RANGES, rangeLabel } from '../../shared/lib/timeRanges';
import { Field } from '../../shared/ui/Field';
import { severityStyle } from '../../shared/ui/Severity';
import { describeFilters } from './describe';
import { isDefault } from './codec';

export interface FilterSuggestions {
  service: string[];
  environment: string[];
  team: string[];
}

interface Props {
  filters: ListFilters;
  defaults: ListFilters;
  onChange: (patch: Partial<ListFilters>) => void;
  /** Statuses the user may pick from; none hides the status filter. */
  statuses?: readonly IncidentStatus[];
  suggestions?: FilterSuggestions;
  /** The signed-in person's teams, by slug: a chip narrows the list to them. None hides it. */
  myTeams?: readonly string[];
}

const rangeChoice = (range: ListFilters['range']) => (range === 'all' ? 'Any time' : range === 'custom' ? 'Custom range' : rangeLabel(range));

const statusLabels: Record<IncidentStatus, string> = { open: 'Open', acknowledged: 'Acknowledged', resolved: 'Resolved' };

export function FilterBar({ filters, defaults, onChange, statuses = [], suggestions, myTeams = [] }: Props) {
  const toggle = <T extends string>(values: readonly T[], value: T): T[] =>
    values.includes(value) ? values.filter((v) => v !== value) : [...values, value];
  const onlyMyTeams = myTeams.length > 0 && sameSet(filters.team, myTeams);

  return (
    <section aria-label="Filters" className="space-y-2 rounded-lg border border-line bg-surface px-3 py-2.5">
      <div className="flex flex-wrap items-end gap-x-3 gap-y-2">
        {statuses.length > 0 && (
          <fieldset className="flex flex-wrap items-center gap-1">
            <legend className="sr-only">Status</legend>
            <span aria-hidden="true" className="mr-1 text-xs font-medium text-muted">
              Status
            </span>
            {statuses.map((status) => (
              <ToggleChip
                key={status}
                pressed={filters.status.includes(status)}
                onClick={() => onChange({ status: toggle(filters.status, status) })}
              >
                {statusLabels[status]}
              </ToggleChip>
            ))}
          </fieldset>
        )}
        <fieldset className="flex flex-wrap items-center gap-1">
          <legend className="sr-only">Severity</legend>
          <span aria-hidden="true" className="mr-1 text-xs font-medium text-muted">
            Severity
          </span>
          {SEVERITIES.map((severity) => {
            const style = severityStyle[severity];
            const Icon = style.icon;
            return (
              <ToggleChip
                key={severity}
                pressed={filters.severity.includes(severity)}
                onClick={() => onChange({ severity: toggle(filters.severity, severity) })}
              >
                <Icon aria-hidden="true" className={`size-3.5 ${style.text}`} strokeWidth={2.5} />
                {style.label}
              </ToggleChip>
            );
          })}
        </fieldset>
        <ListInput label="Service" values={filters.service} suggestions={suggestions?.service} onCommit={(service) => onChange({ service })} />
        <ListInput
          label="Environment"
          values={filters.environment}
          suggestions={suggestions?.environment}
          onCommit={(environment) => onChange({ environment })}
        />
        <ListInput label="Team" values={filters.team} suggestions={suggestions?.team} onCommit={(team) => onChange({ team })} />
        {myTeams.length > 0 && (
          <ToggleChip pressed={onlyMyTeams} onClick={() => onChange({ team: onlyMyTeams ? [] : [...myTeams] })}>
            My teams
          </ToggleChip>
        )}
        <RangePicker filters={filters} onChange={onChange} />
        {!isDefault(filters, defaults) && (
          <button type="button" className="rounded px-2 py-1 text-sm text-accent underline-offset-2 hover:underline" onClick={() => onChange(defaults)}>
            Clear filters
          </button>
        )}
      </div>
      <p className="text-sm text-muted" data-testid="filter-summary">
        {describeFilters(filters)}
      </p>
    </section>
  );
}

function sameSet(values: readonly string[], others: readonly string[]): boolean {
  return values.length === others.length && others.every((value) => values.includes(value));
}

function ToggleChip({ pressed, onClick, children }: { pressed: boolean; onClick: () => void; children: ReactNode }) {
  return (
    <button
      type="button"
      aria-pressed={pressed}
      onClick={onClick}
      className={`inline-flex items-center gap-1 rounded-full border px-2.5 py-0.5 text-sm transition-colors ${
        pressed ? 'border-accent bg-accent/15 font-semibold text-fg' : 'border-line text-muted hover:bg-subtle'
      }`}
    >
      {pressed && <span aria-hidden="true">✓</span>}
      {children}
    </button>
  );
}

/** Comma-separated values, applied on Enter or when the field loses focus. */
function ListInput({
  label,
  values,
  suggestions = [],
  onCommit,
}: {
  label: string;
  values: string[];
  suggestions?: string[];
  onCommit: (values: string[]) => void;
}) {
  const joined = values.join(', ');
  const [text, setText] = useState(joined);
  const [lastJoined, setLastJoined] = useState(joined);
  if (joined !== lastJoined) {
    // The URL changed under us (back, clear, shared link): show it.
    setLastJoined(joined);
    setText(joined);
  }
  const commit = () => {
    const next = [...new Set(text.split(',').map((v) => v.trim()).filter(Boolean))];
    if (next.join(', ') !== joined) onCommit(next);
  };
  return (
    <Field label={label} compact>
      {(id) => (
        <>
          <input
            id={id}
            value={text}
            list={suggestions.length ? `${id}-list` : undefined}
            placeholder="any"
            onChange={(event) => setText(event.target.value)}
            onBlur={commit}
            onKeyDown={(event) => {
              if (event.key === 'Enter') commit();
            }}
            className="w-32 rounded-md border border-line bg-canvas px-2 py-1 text-sm text-fg placeholder:text-muted"
          />
          {suggestions.length > 0 && (
            <datalist id={`${id}-list`}>
              {suggestions.slice(0, 200).map((value) => (
                <option key={value} value={value} />
              ))}
            </datalist>
          )}
        </>
      )}
    </Field>
  );
}

function RangePicker({ filters, onChange }: { filters: ListFilters; onChange: (patch: Partial<ListFilters>) => void }) {
  const options: ListFilters['range'][] = ['all', ...RANGES, 'custom'];
  return (
    <div className="flex flex-wrap items-end gap-2">
      <Field label="Opened" compact>
        {(id) => (
          <select
            id={id}
            value={filters.range}
            onChange={(event) => onChange({ range: event.target.value as ListFilters['range'] })}
            className="rounded-md border border-line bg-canvas px-2 py-1 text-sm text-fg"
          >
            {options.map((range) => (
              <option key={range} value={range}>
                {rangeChoice(range)}
              </option>
            ))}
          </select>
        )}
      </Field>
      {filters.range === 'custom' && (
        <>
          <DateInput label="From" value={filters.since} onChange={(since) => onChange({ since })} />
          <DateInput label="To" value={filters.until} onChange={(until) => onChange({ until })} />
        </>
      )}
    </div>
  );
}

/** A local date-time field whose value is kept as an RFC 3339 UTC time. */
function DateInput({ label, value, onChange }: { label: string; value: string; onChange: (value: string) => void }) {
  const local = value ? toLocalInput(value) : '';
  return (
    <Field label={label} compact>
      {(id) => (
        <input
          id={id}
          type="datetime-local"
          value={local}
          onChange={(event) => onChange(event.target.value ? new Date(event.target.value).toISOString() : '')}
          className="rounded-md border border-line bg-canvas px-2 py-1 text-sm text-fg"
        />
      )}
    </Field>
  );
}

function toLocalInput(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  const offset = date.getTimezoneOffset() * 60_000;
  return new Date(date.getTime() - offset).toISOString().slice(0, 16);
}
