import { useEffect, useRef, useState, type FormEvent } from 'react';
import { canAct, useIncidentAction, type ActionKind, type ActionRequest } from '../../shared/api/actions';
import { ApiError } from '../../shared/api/client';
import type { Incident } from '../../shared/api/types';
import { formatDateTime } from '../../shared/lib/format';
import { useHotkeys } from '../../shared/lib/hotkeys';
import { Button } from '../../shared/ui/Button';
import { Field } from '../../shared/ui/Field';
import { Notice } from '../../shared/ui/Notice';
import { useActorName } from './actor';
import { EditForm } from './EditForm';

const labels: Record<ActionKind, { idle: string; pending: string; done: string }> = {
  acknowledge: { idle: 'Acknowledge', pending: 'Acknowledging…', done: 'Acknowledged' },
  resolve: { idle: 'Resolve', pending: 'Resolving…', done: 'Resolved' },
  reopen: { idle: 'Reopen', pending: 'Reopening…', done: 'Reopened' },
  assign: { idle: 'Assign', pending: 'Assigning…', done: 'Assigned' },
};

/**
 * Acknowledge, Resolve, Reopen, Assign and Edit. A button is enabled only when incident-core allows the
 * move from the current status; while a request runs, every button waits. The answer, or the
 * API's error, is shown under the buttons.
 */
export function ActionBar({ incident }: { incident: Incident }) {
  const name = useActorName();
  const action = useIncidentAction();
  const [assigning, setAssigning] = useState(false);
  const [editing, setEditing] = useState(false);
  const [assignee, setAssignee] = useState('');
  const assigneeInput = useRef<HTMLInputElement>(null);
  // Opening the form moves focus into it (the user asked for it, so this is expected).
  useEffect(() => {
    if (assigning) assigneeInput.current?.focus();
  }, [assigning]);
  const pendingKind = action.isPending ? action.variables?.kind : undefined;

  const run = (request: Omit<ActionRequest, 'id' | 'actor'>) => {
    action.mutate({ ...request, id: incident.id, actor: name });
  };

  useHotkeys({
    a: () => canAct(incident.status, 'acknowledge') && !action.isPending && run({ kind: 'acknowledge' }),
    r: () => canAct(incident.status, 'resolve') && !action.isPending && run({ kind: 'resolve' }),
  });

  const submitAssign = (event: FormEvent) => {
    event.preventDefault();
    if (!assignee.trim()) return;
    run({ kind: 'assign', assignee: assignee.trim() });
    setAssigning(false);
    setAssignee('');
  };

  const button = (kind: Exclude<ActionKind, 'assign'>, variant: 'primary' | 'secondary', shortcut?: string) => (
    <Button
      variant={variant}
      disabled={action.isPending || !canAct(incident.status, kind)}
      onClick={() => run({ kind })}
      aria-keyshortcuts={shortcut}
    >
      {pendingKind === kind ? labels[kind].pending : labels[kind].idle}
      {shortcut && <kbd className="rounded border border-current/30 px-1 text-xs opacity-70">{shortcut}</kbd>}
    </Button>
  );

  return (
    <div className="space-y-2">
      <div className="flex flex-wrap items-center gap-x-4 gap-y-2">
        {/* On a phone the state changes sit in a bar along the bottom of the screen, within thumb
            reach wherever the page is scrolled to; from sm up they are inline with the rest. */}
        <div
          className="flex flex-wrap items-center gap-2 max-sm:fixed max-sm:inset-x-0 max-sm:bottom-0 max-sm:z-20 max-sm:border-t max-sm:border-line max-sm:bg-surface max-sm:px-4 max-sm:py-3 max-sm:[&>button]:flex-1 max-sm:[&>button]:py-2.5"
          role="group"
          aria-label="Actions"
        >
          {button('acknowledge', incident.status === 'open' ? 'primary' : 'secondary', 'a')}
          {button('resolve', incident.status === 'acknowledged' ? 'primary' : 'secondary', 'r')}
          {button('reopen', 'secondary')}
        </div>
        <div className="flex flex-wrap items-center gap-2" role="group" aria-label="Assignment">
          <Button
            disabled={action.isPending || !name || incident.assignee === name}
            onClick={() => run({ kind: 'assign', assignee: name })}
            title={name ? undefined : 'Set a display name on the sign-in page first'}
          >
            {pendingKind === 'assign' ? labels.assign.pending : 'Assign to me'}
          </Button>
          <Button disabled={action.isPending} aria-expanded={assigning} onClick={() => setAssigning((v) => !v)}>
            Assign to…
          </Button>
          {incident.assignee && (
            <Button variant="ghost" disabled={action.isPending} onClick={() => run({ kind: 'assign', assignee: '' })}>
              Unassign
            </Button>
          )}
        </div>
        <Button aria-expanded={editing} onClick={() => setEditing((v) => !v)}>
          Edit
        </Button>
      </div>
      {editing && <EditForm incident={incident} onClose={() => setEditing(false)} />}
      {assigning && (
        <form onSubmit={submitAssign} className="flex flex-wrap items-end gap-2">
          <Field label="Assign to (name or e-mail)" compact>
            {(id) => (
              <input
                id={id}
                ref={assigneeInput}
                value={assignee}
                onChange={(event) => setAssignee(event.target.value)}
                className="w-64 max-w-full rounded-md border border-line bg-canvas px-2 py-1 text-sm text-fg"
              />
            )}
          </Field>
          <Button type="submit" variant="primary" disabled={!assignee.trim()}>
            Assign
          </Button>
          <Button variant="ghost" onClick={() => setAssigning(false)}>
            Cancel
          </Button>
        </form>
      )}
      <Outcome action={action} incident={incident} />
    </div>
  );
}

function Outcome({ action, incident }: { action: ReturnType<typeof useIncidentAction>; incident: Incident }) {
  if (action.isSuccess && action.data) {
    const kind = action.variables.kind;
    const result = action.data;
    const text =
      kind === 'assign'
        ? result.assignee
          ? `Assigned to ${result.assignee}.`
          : 'Assignment cleared.'
        : `${labels[kind].done} at ${formatDateTime(result.updated_at)}. The incident is now ${result.status}.`;
    return (
      <Notice tone="ok">{text}</Notice>
    );
  }
  if (action.isError) {
    const error = action.error;
    const conflict = error instanceof ApiError && error.code === 'conflict';
    const kind = action.variables?.kind ?? 'acknowledge';
    return (
      <Notice tone="error">
        <p>
          <strong className="font-semibold">{conflict ? 'Conflict' : `Could not ${labels[kind].idle.toLowerCase()}`}:</strong>{' '}
          {error.message}
          {error instanceof ApiError && error.code === 'timeout' && ' Check the incident before you try again.'}
        </p>
        {conflict && <p className="mt-1">{currentState(incident)}</p>}
      </Notice>
    );
  }
  return null;
}

/** Who acted first, as far as our (refetched) copy knows. */
function currentState(incident: Incident): string {
  if (incident.status === 'acknowledged' && incident.acknowledged_at) {
    return `It was acknowledged by ${incident.acknowledged_by ?? 'someone'} at ${formatDateTime(incident.acknowledged_at)}.`;
  }
  if (incident.status === 'resolved' && incident.resolved_at) {
    return `It was resolved by ${incident.resolved_by ?? 'someone'} at ${formatDateTime(incident.resolved_at)}.`;
  }
  return `It is now ${incident.status}.`;
}
