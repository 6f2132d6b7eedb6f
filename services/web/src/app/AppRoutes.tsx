import { useEffect } from 'react';
import { Navigate, Outlet, Route, Routes, useLocation } from 'react-router';
import { LinkToken } from '../features/auth/LinkToken';
import { useLiveUpdates } from '../features/live/useLiveUpdates';
import { askWhoIsSignedIn } from '../shared/api/auth';
import { useSession } from '../shared/lib/session';
import { Shell } from './Shell';
import { CatalogueRoute } from './routes/CatalogueRoute';
import { DashboardRoute } from './routes/DashboardRoute';
import { HistoryRoute } from './routes/HistoryRoute';
import { IncidentRoute } from './routes/IncidentRoute';
import { NotFoundRoute } from './routes/NotFoundRoute';
import { OnCallRoute } from './routes/OnCallRoute';
import { ProfileRoute } from './routes/ProfileRoute';
import { RotationRoute } from './routes/RotationRoute';
import { SignInRoute } from './routes/SignInRoute';
import { TokensRoute } from './routes/TokensRoute';
import { WallboardRoute } from './routes/WallboardRoute';

/**
 * The page's own paths. None starts with `/incidents`, `/services`, `/audit-log`, `/oncall`,
 * `/schedules`, `/users` or `/teams`: those, `/events`, `/resolve` and the probes belong to the API
 * on the same origin (the catalogue's page is therefore `/catalogue`, who is on call `/on-call`, a
 * schedule `/rotations/{id}` and the person's own settings `/profile`).
 */
export function AppRoutes() {
  return (
    <>
      <LinkToken />
      <Routes>
        <Route path="/signin" element={<SignInRoute />} />
        <Route element={<RequireSession />}>
          <Route path="/wallboard" element={<WallboardRoute />} />
          <Route element={<Shell />}>
            <Route index element={<DashboardRoute />} />
            <Route path="/incident/:id" element={<IncidentRoute />} />
            <Route path="/history" element={<HistoryRoute />} />
            <Route path="/catalogue" element={<CatalogueRoute />} />
            <Route path="/tokens" element={<TokensRoute />} />
            <Route path="/on-call" element={<OnCallRoute />} />
            <Route path="/rotations/:id" element={<RotationRoute />} />
            <Route path="/profile" element={<ProfileRoute />} />
            <Route path="*" element={<NotFoundRoute />} />
          </Route>
        </Route>
      </Routes>
    </>
  );
}

/**
 * Signed-in pages: with a token, or as a person signed in with the identity provider (asked once,
 * before deciding); otherwise go to the sign-in and come back here afterwards.
 */
function RequireSession() {
  const { token, person, provider } = useSession();
  const location = useLocation();
  const asking = !token && provider === 'unknown';
  useEffect(() => {
    if (asking) void askWhoIsSignedIn();
  }, [asking]);
  if (asking) return null;
  if (!token && !person) {
    const next = location.pathname + location.search;
    return <Navigate to={next === '/' ? '/signin' : `/signin?next=${encodeURIComponent(next)}`} replace />;
  }
  return <LiveOutlet />;
}

function LiveOutlet() {
  useLiveUpdates();
  return <Outlet />;
}
