import { useId, type ReactNode } from 'react';

/**
 * A label over its control, tied to it by a generated id that the control must take:
 * `<Field label="Team">{(id) => <input id={id} … />}</Field>`. `compact` is the filter bar's small
 * muted label; the default is a form's, with room for a hint under the control.
 */
export function Field({
  label,
  hint,
  compact = false,
  children,
}: {
  label: string;
  hint?: ReactNode;
  compact?: boolean;
  children: (id: string) => ReactNode;
}) {
  const id = useId();
  return (
    <div className={compact ? 'flex flex-col' : 'flex flex-col gap-1'}>
      <label htmlFor={id} className={compact ? 'text-xs font-medium text-muted' : 'text-sm font-medium'}>
        {label}
      </label>
      {children(id)}
      {hint && <p className="text-xs text-muted">{hint}</p>}
    </div>
  );
}
