import { useEffect } from 'react';
import { session, takeTokenFromUrl, useSession } from '../../shared/lib/session';
import { Button } from '../../shared/ui/Button';
import { Dialog } from '../../shared/ui/Dialog';

/**
 * What a sign-in link asks of the user, on every page: whether a `#token=` link's token replaces
 * the one this browser is signed in with, and why a `?token=` link did not sign them in. A link
 * followed while the page is open (only the fragment changed, so nothing reloads) is taken too.
 */
export function LinkToken() {
  const { offered, queryTokenIgnored } = useSession();

  useEffect(() => {
    const onHashChange = () => takeTokenFromUrl();
    window.addEventListener('hashchange', onHashChange);
    return () => window.removeEventListener('hashchange', onHashChange);
  }, []);

  return (
    <>
      {queryTokenIgnored && (
        <div role="alert" className="flex items-start gap-3 border-b border-danger/40 bg-danger-bg px-4 py-2 text-sm text-danger">
          <p className="flex-1">
            This link carried an API token as <code>?token=</code>, which tocsin does not take: a token in the query string ends up in
            the logs of every server on the way. You were not signed in with it. Sign-in links put the token after # instead (
            <code>…/#token=…</code>), which the browser never sends; or sign in with the form.
          </p>
          <Button variant="ghost" onClick={() => session.dismissQueryTokenNotice()}>
            Dismiss
          </Button>
        </div>
      )}
      {offered !== null && (
        <Dialog title="Replace your API token?" onClose={() => session.declineOffered()}>
          <p className="text-sm">
            The link you opened carries an API token other than the one this browser is signed in with. Replace yours only if you
            trust whoever made the link: the token decides which incidents you see and what you may do to them.
          </p>
          <div className="mt-4 flex justify-end gap-2">
            <Button onClick={() => session.declineOffered()}>Keep my current token</Button>
            <Button variant="primary" onClick={() => session.acceptOffered()}>
              Replace my token
            </Button>
          </div>
        </Dialog>
      )}
    </>
  );
}
