import { useState, type FormEvent } from 'react';
import { useMakeToken } from '../../shared/api/tokens';
import type { MadeToken } from '../../shared/api/types';
import { Button } from '../../shared/ui/Button';
import { ErrorMessage } from '../../shared/ui/ErrorMessage';
import { Field } from '../../shared/ui/Field';
import { Notice } from '../../shared/ui/Notice';

const inputClass = 'rounded-md border border-line bg-surface px-2 py-1 text-sm';

const SCOPES = [
  { scope: 'read', label: 'Read', hint: 'incidents, schedules, teams' },
  { scope: 'act', label: 'Act', hint: 'acknowledge, resolve, reopen, assign' },
  { scope: 'admin', label: 'Change settings', hint: 'what your roles let you change' },
] as const;

/**
 * Makes a token acting as the signed-in person. The secret is shown once, here, until the page is
 * left: the API keeps only its hash and cannot show it again.
 */
export function MakeTokenForm() {
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<string[]>(['read']);
  const [days, setDays] = useState(90);
  const [made, setMade] = useState<MadeToken | null>(null);
  const make = useMakeToken();

  function submit(event: FormEvent) {
    event.preventDefault();
    make.mutate(
      { name: name.trim(), scopes, expires_in_days: days },
      {
        onSuccess: (answer) => {
          setMade(answer);
          setName('');
        },
      },
    );
  }

  function toggle(scope: string) {
    setScopes((current) => (current.includes(scope) ? current.filter((held) => held !== scope) : [...current, scope]));
  }

  return (
    <form aria-label="Make a token" onSubmit={submit} className="space-y-3">
      <div className="flex flex-wrap items-end gap-3">
        <Field label="Name" hint="What it is for: laptop, grafana-annotations">
          {(id) => <input id={id} required maxLength={100} value={name} onChange={(event) => setName(event.target.value)} className={inputClass} />}
        </Field>
        <Field label="Expires in (days)" hint="1 to 365">
          {(id) => (
            <input
              id={id}
              type="number"
              min={1}
              max={365}
              required
              value={days}
              onChange={(event) => setDays(Number(event.target.value))}
              className={`${inputClass} w-24`}
            />
          )}
        </Field>
        <fieldset className="mb-5 flex flex-wrap gap-3">
          <legend className="sr-only">Scopes</legend>
          {SCOPES.map(({ scope, label, hint }) => (
            <label key={scope} className="inline-flex items-center gap-1.5 text-sm" title={hint}>
              <input type="checkbox" checked={scopes.includes(scope)} onChange={() => toggle(scope)} />
              {label}
            </label>
          ))}
        </fieldset>
        <Button type="submit" variant="primary" disabled={make.isPending || scopes.length === 0} className="mb-5">
          Make token
        </Button>
      </div>
      {make.isError && <ErrorMessage error={make.error} title="Could not make the token" />}
      {made && (
        <Notice tone="ok">
          <p>
            Token <strong>{made.token.name}</strong> made. Copy it now: it is shown this once.
          </p>
          <code aria-label="The new token" className="mt-1 block break-all rounded bg-surface px-2 py-1 font-mono text-fg">
            {made.secret}
          </code>
        </Notice>
      )}
    </form>
  );
}
