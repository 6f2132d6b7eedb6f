import { useRevokeToken } from '../../shared/api/tokens';
import type { PersonalToken } from '../../shared/api/types';
import { formatDateTime } from '../../shared/lib/format';
import { Button } from '../../shared/ui/Button';
import { ErrorMessage } from '../../shared/ui/ErrorMessage';

function state(token: PersonalToken, now: number): string {
  if (token.revoked_at) return `revoked ${formatDateTime(token.revoked_at)}`;
  if (Date.parse(token.expires_at) <= now) return `expired ${formatDateTime(token.expires_at)}`;
  return `expires ${formatDateTime(token.expires_at)}`;
}

/** The person's tokens with their scopes and last use; live ones can be revoked. */
export function TokenTable({ tokens }: { tokens: PersonalToken[] }) {
  const revoke = useRevokeToken();
  const now = Date.now();
  if (tokens.length === 0) return <p className="py-6 text-center text-muted">You have no tokens.</p>;
  return (
    <section aria-label="Your tokens" className="space-y-2">
      {revoke.isError && <ErrorMessage error={revoke.error} title="Could not revoke the token" />}
      <table className="w-full text-left text-sm">
        <thead className="text-xs text-muted">
          <tr>
            <th scope="col" className="py-1 pr-4 font-medium">Name</th>
            <th scope="col" className="py-1 pr-4 font-medium">Scopes</th>
            <th scope="col" className="py-1 pr-4 font-medium">Last used</th>
            <th scope="col" className="py-1 pr-4 font-medium">State</th>
            <th scope="col" className="py-1 font-medium"><span className="sr-only">Actions</span></th>
          </tr>
        </thead>
        <tbody>
          {tokens.map((token) => {
            const live = !token.revoked_at && Date.parse(token.expires_at) > now;
            return (
              <tr key={token.id} className="border-t border-line">
                <th scope="row" className="max-w-[32ch] truncate py-1.5 pr-4 font-normal" title={token.name}>
                  {token.name}
                </th>
                <td className="py-1.5 pr-4">{token.scopes.join(', ')}</td>
                <td className="py-1.5 pr-4 text-muted">{token.last_used_at ? formatDateTime(token.last_used_at) : 'never'}</td>
                <td className="py-1.5 pr-4 text-muted">{state(token, now)}</td>
                <td className="py-1.5 text-right">
                  {live && (
                    <Button variant="ghost" aria-label={`Revoke ${token.name}`} disabled={revoke.isPending} onClick={() => revoke.mutate(token.id)}>
                      Revoke
                    </Button>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}
