import { useEffect } from 'react';
import { Navigate, useNavigate, useSearchParams } from 'react-router';
import { SignInForm } from '../../features/auth/SignInForm';
import { askWhoIsSignedIn, providerSignInUrl } from '../../shared/api/auth';
import { useSession } from '../../shared/lib/session';
import { ThemeToggle } from '../../features/theme/ThemeToggle';
import { Brand, PRODUCT_NAME, useDocumentTitle } from '../../shared/ui/Brand';

export function SignInRoute() {
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const next = params.get('next');
  // Only a path on this site, never another origin.
  const target = next && next.startsWith('/') && !next.startsWith('//') ? next : '/';

  useDocumentTitle('Sign in');
  const { person, provider } = useSession();
  useEffect(() => {
    if (provider === 'unknown') void askWhoIsSignedIn();
  }, [provider]);
  if (person) return <Navigate to={target} replace />;

  return (
    <div className="flex min-h-screen flex-col bg-canvas text-fg">
      <header className="flex items-center justify-between px-4 py-3">
        <Brand />
        <ThemeToggle />
      </header>
      <main className="flex flex-1 items-start justify-center px-4 pt-[10vh]">
        <div className="w-full max-w-sm rounded-lg border border-line bg-surface p-6 shadow-sm">
          <h1 className="mb-1 text-xl font-semibold">Sign in</h1>
          <p className="mb-5 text-sm text-muted">{PRODUCT_NAME} incident dashboard</p>
          {provider === 'on' && (
            <>
              <a
                href={providerSignInUrl(target)}
                className="block w-full rounded-md bg-accent px-3 py-2 text-center text-sm font-semibold text-accent-fg hover:opacity-90"
              >
                Sign in with your organisation
              </a>
              <p className="my-4 text-center text-xs text-muted">or with an API token</p>
            </>
          )}
          <SignInForm onSignedIn={() => navigate(target, { replace: true })} />
        </div>
      </main>
    </div>
  );
}
