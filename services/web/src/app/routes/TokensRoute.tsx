import { useQuery } from '@tanstack/react-query';
import { MakeTokenForm } from '../../features/tokens/MakeTokenForm';
import { TokenTable } from '../../features/tokens/TokenTable';
import { myTokensOptions } from '../../shared/api/tokens';
import { useSession } from '../../shared/lib/session';
import { useDocumentTitle } from '../../shared/ui/Brand';
import { ErrorMessage } from '../../shared/ui/ErrorMessage';

/**
 * The signed-in person's API tokens, for scripts and the CLI: each acts as them, with their
 * roles, within its scopes. Only a person signed in with the identity provider has any.
 */
export function TokensRoute() {
  const { person } = useSession();
  useDocumentTitle('API tokens');
  return (
    <div className="space-y-4">
      <h1 tabIndex={-1} className="text-xl font-semibold outline-none">
        API tokens
      </h1>
      {person ? (
        <MyTokens />
      ) : (
        <p className="max-w-prose text-sm text-muted">
          Personal tokens belong to people signed in with the organisation&apos;s sign-in. You are using a shared token.
        </p>
      )}
    </div>
  );
}

function MyTokens() {
  const tokens = useQuery(myTokensOptions());
  return (
    <>
      <p className="max-w-prose text-sm text-muted">
        A token acts as you, with your roles in your teams, within the scopes you give it. Send it as{' '}
        <code>Authorization: Bearer …</code>, or log the CLI in with it (<code>tocsin login</code>).
      </p>
      <MakeTokenForm />
      {tokens.isError && <ErrorMessage error={tokens.error} title="Could not load your tokens" />}
      {tokens.isPending && <p className="py-10 text-center text-muted">Loading your tokens…</p>}
      {tokens.data && <TokenTable tokens={tokens.data.items} />}
    </>
  );
}
