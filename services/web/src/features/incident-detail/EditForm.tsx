import { useEffect, useRef, useState, type FormEvent } from 'react';
import { useEditIncident } from '../../shared/api/actions';
import { SEVERITIES, type Incident, type Severity } from '../../shared/api/types';
import { Button } from '../../shared/ui/Button';
import { ErrorMessage } from '../../shared/ui/ErrorMessage';
import { Field } from '../../shared/ui/Field';
import { useActorName } from './actor';

const inputClass = 'rounded-md border border-line bg-canvas px-2 py-1 text-sm text-fg';

/**
 * Corrects the title and severity the first alert gave. Only what differs is sent; the form
 * closes once incident-core has applied the edit, and the timeline shows it.
 */
export function EditForm({ incident, onClose }: { incident: Incident; onClose: () => void }) {
  const actor = useActorName();
  const edit = useEditIncident();
  const [title, setTitle] = useState(incident.title);
  const [severity, setSeverity] = useState<Severity>(incident.severity);
  const titleInput = useRef<HTMLInputElement>(null);
  useEffect(() => titleInput.current?.focus(), []);
  const changedTitle = title.trim() !== incident.title ? title.trim() : undefined;
  const changedSeverity = severity !== incident.severity ? severity : undefined;

  const submit = (event: FormEvent) => {
    event.preventDefault();
    edit.mutate({ id: incident.id, title: changedTitle, severity: changedSeverity, actor }, { onSuccess: onClose });
  };

  return (
    <form onSubmit={submit} aria-label="Edit incident" className="flex flex-wrap items-end gap-2">
      <Field label="Title" compact>
        {(id) => (
          <input id={id} ref={titleInput} value={title} maxLength={500} onChange={(event) => setTitle(event.target.value)} className={`${inputClass} w-96 max-w-full`} />
        )}
      </Field>
      <Field label="Severity" compact>
        {(id) => (
          <select id={id} value={severity} onChange={(event) => setSeverity(event.target.value as Severity)} className={inputClass}>
            {SEVERITIES.map((value) => (
              <option key={value} value={value}>
                {value}
              </option>
            ))}
          </select>
        )}
      </Field>
      <Button type="submit" variant="primary" disabled={edit.isPending || !title.trim() || (!changedTitle && !changedSeverity)}>
        {edit.isPending ? 'Saving…' : 'Save'}
      </Button>
      <Button variant="ghost" onClick={onClose}>
        Cancel
      </Button>
      {edit.isError && <ErrorMessage error={edit.error} title="Could not edit" />}
    </form>
  );
}
