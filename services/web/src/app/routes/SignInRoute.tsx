import { useNavigate, useSearchParams } from 'react-router';
import { SignInForm } from '../../features/auth/SignInForm';
import { ThemeToggle } from '../../features/theme/ThemeToggle';
import { Brand, PRODUCT_NAME, useDocumentTitle } from '../../shared/ui/Brand';

export function SignInRoute() {
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const next = params.get('next');
  // Only a path on this site, never another origin.
  const target = next && next.startsWith('/') && !next.startsWith('//') ? next : '/';

  useDocumentTitle('Sign in');

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
          <SignInForm onSignedIn={() => navigate(target, { replace: true })} />
        </div>
      </main>
    </div>
  );
}
