import { useId, type ReactNode } from 'react';

/** What a control takes to be tied to its hint and error: spread it onto the control. */
export interface Described {
  'aria-describedby'?: string;
  'aria-invalid'?: true;
}

/**
 * A label over its control, tied to it by a generated id that the control must take:
 * `<Field label="Team">{(id) => <input id={id} … />}</Field>`. `compact` is the filter bar's small
 * muted label; the default is a form's, with room for a hint under the control. `error` (the
 * API's refusal of this field) is shown under it; the control gets it read out by spreading the
 * second argument: `{(id, described) => <input id={id} {...described} />}`.
 */
export function Field({
  label,
  hint,
  error,
  compact = false,
  children,
}: {
  label: string;
  hint?: ReactNode;
  error?: string;
  compact?: boolean;
  children: (id: string, described: Described) => ReactNode;
}) {
  const id = useId();
  const described: Described = {};
  const ids = [hint ? `${id}-hint` : null, error ? `${id}-error` : null].filter(Boolean);
  if (ids.length) described['aria-describedby'] = ids.join(' ');
  if (error) described['aria-invalid'] = true;
  return (
    <div className={compact ? 'flex flex-col' : 'flex flex-col gap-1'}>
      <label htmlFor={id} className={compact ? 'text-xs font-medium text-muted' : 'text-sm font-medium'}>
        {label}
      </label>
      {children(id, described)}
      {hint && (
        <p id={`${id}-hint`} className="text-xs text-muted">
          {hint}
        </p>
      )}
      {error && (
        <p id={`${id}-error`} className="max-w-72 text-xs font-medium text-danger">
          {error}
        </p>
      )}
    </div>
  );
}
