import { useState, type FormEvent } from 'react';
import { useSetOwner } from '../../shared/api/catalogue';
import { Button } from '../../shared/ui/Button';
import { ErrorMessage } from '../../shared/ui/ErrorMessage';
import { Field } from '../../shared/ui/Field';
import { Notice } from '../../shared/ui/Notice';

const inputClass = 'rounded-md border border-line bg-surface px-2 py-1 text-sm';

/** Gives a service to a team: a new entry, or a move. The API checks the names and the scope. */
export function OwnerForm() {
  const [service, setService] = useState('');
  const [team, setTeam] = useState('');
  const setOwner = useSetOwner();

  function submit(event: FormEvent) {
    event.preventDefault();
    setOwner.mutate(
      { service: service.trim(), team: team.trim() },
      {
        onSuccess: () => {
          setService('');
          setTeam('');
        },
      },
    );
  }

  return (
    <form aria-label="Give a service to a team" onSubmit={submit} className="space-y-2">
      <div className="flex flex-wrap items-end gap-3">
        <Field label="Service" hint="As alerts carry it in their service label">
          {(id) => <input id={id} required value={service} onChange={(event) => setService(event.target.value)} className={inputClass} />}
        </Field>
        <Field label="Team" hint="The team's slug, as in the team label">
          {(id) => <input id={id} required value={team} onChange={(event) => setTeam(event.target.value)} className={inputClass} />}
        </Field>
        <Button type="submit" variant="primary" disabled={setOwner.isPending} className="mb-5">
          Save
        </Button>
      </div>
      {setOwner.isError && <ErrorMessage error={setOwner.error} title="Could not save" />}
      {setOwner.isSuccess && (
        <Notice tone="info">Saved. Incidents opened from now on take this team (within incident-core's next read).</Notice>
      )}
    </form>
  );
}
