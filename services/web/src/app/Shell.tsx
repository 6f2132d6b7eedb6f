import { BellRing, Boxes, CircleHelp, History, KeyRound, LayoutDashboard, LogOut, Tv, UserRound } from 'lucide-react';
import { useEffect, useRef, useState } from 'react';
import { NavLink, Outlet, useLocation } from 'react-router';
import { ConnectionBadge } from '../features/live/ConnectionBadge';
import { ShortcutsDialog } from '../features/shortcuts/ShortcutsDialog';
import { ThemeToggle } from '../features/theme/ThemeToggle';
import { useHotkeys } from '../shared/lib/hotkeys';
import { signOutPerson } from '../shared/api/auth';
import { session, useSession, type Person } from '../shared/lib/session';
import { Brand } from '../shared/ui/Brand';
import { SkipLink } from '../shared/ui/SkipLink';

const nav = [
  { to: '/', label: 'Dashboard', icon: LayoutDashboard, end: true },
  { to: '/on-call', label: 'On call', icon: BellRing, end: false },
  { to: '/history', label: 'History', icon: History, end: false },
  { to: '/catalogue', label: 'Services', icon: Boxes, end: false },
  { to: '/wallboard', label: 'Wallboard', icon: Tv, end: false },
];

export function Shell() {
  const { name, person } = useSession();
  const signOut = () => {
    if (!person) return session.signOut();
    // The provider's sign-out page, when it has one, brings the browser back to the dashboard.
    // If query cannot be reached, the page forgets the person all the same and shows the sign-in.
    void signOutPerson()
      .then((url) => window.location.assign(url ?? '/signin'))
      .catch(() => window.location.assign('/signin'));
  };
  const [help, setHelp] = useState(false);
  const location = useLocation();
  useHotkeys({ '?': () => setHelp(true) }, !help);
  useFocusHeadingOnNavigation(location.pathname);

  return (
    <div className="min-h-screen bg-canvas text-fg">
      <SkipLink to="#main">Skip to content</SkipLink>
      <header className="sticky top-0 z-30 border-b border-line bg-surface/95 backdrop-blur">
        <div className="mx-auto flex max-w-[1600px] flex-wrap items-center gap-x-4 gap-y-1 px-4 py-2">
          <Brand />
          <nav aria-label="Main">
            <ul className="flex flex-wrap gap-1">
              {nav.map(({ to, label, icon: Icon, end }) => (
                <li key={to}>
                  <NavLink
                    to={to}
                    end={end}
                    className={({ isActive }) =>
                      `inline-flex items-center gap-1.5 rounded-md px-2 py-1.5 text-sm sm:px-2.5 ${
                        isActive ? 'bg-subtle font-semibold text-fg' : 'text-muted hover:bg-subtle hover:text-fg'
                      }`
                    }
                  >
                    <Icon aria-hidden="true" className="size-4" />
                    {/* On a phone the icons alone, so that the header fits: the name stays for screen readers. */}
                    <span className="sr-only sm:not-sr-only">{label}</span>
                  </NavLink>
                </li>
              ))}
            </ul>
          </nav>
          <div className="ml-auto flex items-center gap-2 sm:gap-3">
            <ConnectionBadge />
            <ThemeToggle />
            <button
              type="button"
              onClick={() => setHelp(true)}
              aria-keyshortcuts="?"
              className="inline-flex items-center gap-1 rounded-md px-2 py-1 text-sm text-muted hover:bg-subtle hover:text-fg"
            >
              <CircleHelp aria-hidden="true" className="size-4" />
              <span className="hidden lg:inline">Shortcuts</span>
              <span className="sr-only lg:hidden">Keyboard shortcuts</span>
            </button>
            <span className="hidden text-sm text-muted xl:inline" title="Recorded as the actor of your actions">
              {person ? person.name : name || 'no name set'}
            </span>
            {person && <PersonTeams person={person} />}
            {person && (
              <NavLink to="/profile" className="inline-flex items-center gap-1 rounded-md px-2 py-1 text-sm text-muted hover:bg-subtle hover:text-fg">
                <UserRound aria-hidden="true" className="size-4" />
                <span className="sr-only md:not-sr-only">Profile</span>
              </NavLink>
            )}
            {person && (
              <NavLink to="/tokens" className="inline-flex items-center gap-1 rounded-md px-2 py-1 text-sm text-muted hover:bg-subtle hover:text-fg">
                <KeyRound aria-hidden="true" className="size-4" />
                <span className="sr-only md:not-sr-only">API tokens</span>
              </NavLink>
            )}
            <button
              type="button"
              onClick={signOut}
              className="inline-flex items-center gap-1 rounded-md px-2 py-1 text-sm text-muted hover:bg-subtle hover:text-fg"
            >
              <LogOut aria-hidden="true" className="size-4" />
              <span className="sr-only md:not-sr-only">Sign out</span>
            </button>
          </div>
        </div>
      </header>
      <main id="main" tabIndex={-1} className="mx-auto max-w-[1600px] px-4 py-4 outline-none">
        <Outlet />
      </main>
      {help && <ShortcutsDialog onClose={() => setHelp(false)} />}
    </div>
  );
}

/** The signed-in person's teams and role in each, and whether they are an admin. */
function PersonTeams({ person }: { person: Person }) {
  const teams = person.teams.map(({ slug, role }) => `${slug} (${role})`).join(', ');
  const text = [person.isAdmin ? 'admin' : null, teams || (person.isAdmin ? null : 'no team')]
    .filter(Boolean)
    .join(' · ');
  return (
    <span className="hidden max-w-64 truncate text-xs text-muted xl:inline" title="Your teams and roles">
      {text}
    </span>
  );
}

/** After a navigation, focus moves to the new page's heading (not on the first load). */
function useFocusHeadingOnNavigation(pathname: string) {
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    document.querySelector<HTMLElement>('main h1')?.focus();
  }, [pathname]);
}
