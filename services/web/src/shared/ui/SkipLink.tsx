import type { ReactNode } from 'react';
import { Link } from 'react-router';

const className = 'sr-only z-50 rounded bg-accent px-3 py-2 text-accent-fg focus:not-sr-only focus:fixed focus:top-2 focus:left-2';

/**
 * A link for keyboard users, hidden until it has focus, then shown top left: the first stop of
 * the page. `to` is a place on the page (`#main`, where the browser then moves focus) or a path.
 */
export function SkipLink({ to, children }: { to: string; children: ReactNode }) {
  return to.startsWith('#') ? (
    <a href={to} className={className}>
      {children}
    </a>
  ) : (
    <Link to={to} className={className}>
      {children}
    </Link>
  );
}
