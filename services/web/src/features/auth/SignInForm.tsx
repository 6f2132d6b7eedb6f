import { useState, type FormEvent } from 'react';
import { ApiError } from '../../shared/api/client';
import { checkToken } from '../../shared/api/incidents';
import { session, useSession } from '../../shared/lib/session';
import { Button } from '../../shared/ui/Button';
import { ErrorMessage } from '../../shared/ui/ErrorMessage';
import { Field } from '../../shared/ui/Field';
import { Notice } from '../../shared/ui/Notice';

/**
 * Asks for the API token and a display name (the `actor` of your actions). The token is tried
 * once before it is kept, so a typo is caught here rather than on the dashboard.
 */
export function SignInForm({ onSignedIn }: { onSignedIn: () => void }) {
  const current = useSession();
  const [token, setToken] = useState('');
  const [name, setName] = useState(current.name);
  const [error, setError] = useState<unknown>(null);
  const [checking, setChecking] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    setChecking(true);
    try {
      await checkToken(token.trim());
      session.signIn(token.trim(), name.trim());
      onSignedIn();
    } catch (caught) {
      setError(refusal(caught));
    } finally {
      setChecking(false);
    }
  };

  return (
    <form onSubmit={submit} className="space-y-4" aria-describedby={current.expired ? 'expired' : undefined}>
      {current.expired && (
        <Notice tone="error" id="expired">
          The API refused your token (401). Sign in again.
        </Notice>
      )}
      <Field
        label="API token"
        hint={
          <>
            The query service's <code>API_TOKEN</code>, or a token with the <code>read</code> scope (and <code>act</code> to change
            incidents). <code>make run</code> prints the <code>API_TOKEN</code> and keeps it in <code>.local/tokens.env</code>.
          </>
        }
      >
        {(id) => (
          <input
            id={id}
            type="password"
            required
            autoComplete="current-password"
            value={token}
            onChange={(event) => setToken(event.target.value)}
            className="rounded-md border border-line bg-canvas px-3 py-2 font-mono text-sm text-fg"
          />
        )}
      </Field>
      <Field label="Your name" hint="Recorded as who acted in the timeline, and used by “Assign to me”.">
        {(id) => (
          <input
            id={id}
            autoComplete="email"
            placeholder="ana@example.com"
            value={name}
            onChange={(event) => setName(event.target.value)}
            className="rounded-md border border-line bg-canvas px-3 py-2 text-sm text-fg placeholder:text-muted"
          />
        )}
      </Field>
      {error !== null && <ErrorMessage error={error} />}
      <Button type="submit" variant="primary" disabled={checking || !token.trim()} className="w-full">
        {checking ? 'Checking…' : 'Sign in'}
      </Button>
    </form>
  );
}

/** What to say when the API will not take the token: unknown (401), or known without `read` (403). */
function refusal(caught: unknown): unknown {
  if (!(caught instanceof ApiError)) return caught;
  if (caught.status === 401) {
    return new Error('The API refused this token. Use the API_TOKEN of the query service (not the ingest token).');
  }
  if (caught.status === 403) {
    return new Error('This token may not read incidents: it lacks the read scope. Use one with read (and act to change incidents).');
  }
  return caught;
}
