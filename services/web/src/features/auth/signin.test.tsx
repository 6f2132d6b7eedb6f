import { act, render, screen, waitFor, within } from '@testing-library/react';
import { BrowserRouter } from 'react-router';
import { describe, expect, it } from 'vitest';
import { AppRoutes } from '../../app/AppRoutes';
import { Providers } from '../../app/Providers';
import { session, takeTokenFromUrl } from '../../shared/lib/session';
import { apiError, mockApi } from '../../testing/fetchMock';
import { lastPage, makeIncident } from '../../testing/fixtures';
import { FakeStream, renderApp, testQueryClient } from '../../testing/render';

describe('sign-in', () => {
  it('takes #token= once, stores it and removes it from the address bar', async () => {
    window.history.replaceState(null, '', '/history?range=24h#token=from-link');
    expect(takeTokenFromUrl()).toBe('signed-in');
    expect(window.location.pathname + window.location.search + window.location.hash).toBe('/history?range=24h');
    expect(localStorage.getItem('tocsin.token')).toBe('from-link');

    // The app then runs signed in with it.
    const api = mockApi().get('/incidents', lastPage([]));
    window.history.replaceState(null, '', '/');
    render(
      <Providers client={testQueryClient()} openStream={new FakeStream().open}>
        <BrowserRouter>
          <AppRoutes />
        </BrowserRouter>
      </Providers>,
    );
    await screen.findByText(/All quiet/);
    expect(api.requests[0]!.headers.get('Authorization')).toBe('Bearer from-link');
  });

  it('never takes ?token=: it leaves the address bar, nothing is stored, and the page says to use #token=', async () => {
    window.history.replaceState(null, '', '/history?token=from-log&range=24h');
    expect(takeTokenFromUrl()).toBe('ignored');
    expect(window.location.pathname + window.location.search).toBe('/history?range=24h');
    expect(localStorage.getItem('tocsin.token')).toBeNull();
    expect(session.get().token).toBeNull();

    const { user } = renderApp('/', { signedIn: false });
    expect(await screen.findByRole('heading', { name: 'Sign in' })).toBeInTheDocument();
    const notice = screen.getByRole('alert');
    expect(notice).toHaveTextContent(/You were not signed in with it/);
    expect(notice).toHaveTextContent(/put the token after # instead/);
    await user.click(within(notice).getByRole('button', { name: 'Dismiss' }));
    expect(screen.queryByRole('alert')).not.toBeInTheDocument();
  });

  it('does nothing without a token in the address', () => {
    window.history.replaceState(null, '', '/?team=platform#main');
    expect(takeTokenFromUrl()).toBe('none');
    expect(window.location.search + window.location.hash).toBe('?team=platform#main');
  });

  it('a link with the token already stored changes nothing', () => {
    session.signIn('mine', 'ana@example.com');
    window.history.replaceState(null, '', '/#token=mine');
    expect(takeTokenFromUrl()).toBe('same');
    expect(window.location.hash).toBe('');
    expect(session.get().offered).toBeNull();
  });

  it('asks before a link replaces a stored token: keep keeps it', async () => {
    mockApi().get('/incidents', lastPage([]));
    const { user } = renderApp('/');
    await screen.findByText(/All quiet/);
    window.history.replaceState(null, '', '/#token=crafted');
    act(() => {
      expect(takeTokenFromUrl()).toBe('offered');
    });
    expect(window.location.hash).toBe('');
    expect(localStorage.getItem('tocsin.token')).toBe('test-token');

    const dialog = await screen.findByRole('dialog', { name: 'Replace your API token?' });
    await user.click(within(dialog).getByRole('button', { name: 'Keep my current token' }));
    expect(screen.queryByRole('dialog')).not.toBeInTheDocument();
    expect(localStorage.getItem('tocsin.token')).toBe('test-token');
    expect(session.get().token).toBe('test-token');
    expect(session.get().offered).toBeNull();
  });

  it('asks before a link replaces a stored token: replace replaces it, and the next requests carry it', async () => {
    const api = mockApi().get('/incidents', lastPage([]));
    const { user, stream } = renderApp('/');
    await screen.findByText(/All quiet/);
    // A link followed while the page is open changes only the fragment: nothing reloads.
    act(() => {
      window.history.replaceState(null, '', '/#token=from-colleague');
      window.dispatchEvent(new HashChangeEvent('hashchange'));
    });
    const dialog = await screen.findByRole('dialog', { name: 'Replace your API token?' });
    expect(window.location.hash).toBe('');
    await user.click(within(dialog).getByRole('button', { name: 'Replace my token' }));
    expect(screen.queryByRole('dialog')).not.toBeInTheDocument();
    expect(localStorage.getItem('tocsin.token')).toBe('from-colleague');
    expect(localStorage.getItem('tocsin.name')).toBe('ana@example.com');
    await waitFor(() => expect(stream.token).toBe('from-colleague'));
    expect(api.requests.every((request) => !request.url.href.includes('from-colleague'))).toBe(true);
  });

  it('asks for a token, checks it, keeps token and name, and goes where the user was going', async () => {
    const api = mockApi().get('/incidents', (request) =>
      request.headers.get('Authorization') === 'Bearer good' ? lastPage([]) : apiError(401, 'unauthorized', 'no'),
    );
    const { user, location } = renderApp('/history?range=24h', { signedIn: false });
    expect(await screen.findByRole('heading', { name: 'Sign in' })).toBeInTheDocument();
    expect(location()).toBe('/signin?next=%2Fhistory%3Frange%3D24h');

    await user.type(screen.getByLabelText('API token'), 'wrong');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByRole('alert')).toHaveTextContent(/refused this token/);
    expect(session.get().token).toBeNull();

    await user.clear(screen.getByLabelText('API token'));
    await user.type(screen.getByLabelText('API token'), 'good');
    await user.type(screen.getByLabelText('Your name'), 'ana@example.com');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));

    expect(await screen.findByRole('heading', { name: 'History' })).toBeInTheDocument();
    expect(location()).toBe('/history?range=24h');
    expect(localStorage.getItem('tocsin.token')).toBe('good');
    expect(localStorage.getItem('tocsin.name')).toBe('ana@example.com');
    expect(api.requests.at(-1)!.headers.get('Authorization')).toBe('Bearer good');
  });

  it('says so when the token lacks the read scope, and keeps nothing', async () => {
    mockApi().get('/incidents', apiError(403, 'forbidden', 'the token `ci` does not have the `read` scope this route needs'));
    const { user } = renderApp('/', { signedIn: false });
    await user.type(await screen.findByLabelText('API token'), 'act-only');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByRole('alert')).toHaveTextContent(/lacks the read scope/);
    expect(session.get().token).toBeNull();
  });

  it('brings the sign-in back when the API answers 401', async () => {
    mockApi()
      .get('/incidents', apiError(401, 'unauthorized', 'missing or wrong bearer token'))
      .get(/^\/incidents\/.+/, { body: makeIncident() });
    const { location } = renderApp('/?severity=critical');
    expect(await screen.findByRole('heading', { name: 'Sign in' })).toBeInTheDocument();
    expect(screen.getByRole('alert')).toHaveTextContent('The API refused your token (401). Sign in again.');
    expect(location()).toBe('/signin?next=%2F%3Fseverity%3Dcritical');
    expect(localStorage.getItem('tocsin.token')).toBeNull();
    // The name is kept for next time.
    expect(localStorage.getItem('tocsin.name')).toBe('ana@example.com');
  });

  it('signs out from the header', async () => {
    mockApi().get('/incidents', lastPage([]));
    const { user } = renderApp('/');
    await user.click(await screen.findByRole('button', { name: 'Sign out' }));
    await waitFor(() => expect(screen.getByRole('heading', { name: 'Sign in' })).toBeInTheDocument());
    expect(screen.queryByRole('alert')).not.toBeInTheDocument();
  });
});

describe('sign-in with the identity provider', () => {
  const me = {
    provider: true,
    user: { id: '0191e1a0-0000-7000-8000-000000000001', name: 'Alice Liddell', email: 'alice@example.com', is_admin: false },
    teams: [
      { slug: 'payments', name: 'Payments', role: 'responder' },
      { slug: 'web', name: 'web', role: 'viewer' },
    ],
    default_role: 'viewer',
    csrf_token: 'csrf-of-the-session',
    expires_at: '2026-11-27T09:00:00Z',
  };

  it('offers the organisation’s sign-in when query has it, coming back to the page asked for', async () => {
    mockApi().get('/auth/status', { body: { provider: true } });
    renderApp('/history?range=24h', { signedIn: false });
    const link = await screen.findByRole('link', { name: 'Sign in with your organisation' });
    expect(link).toHaveAttribute('href', '/auth/login?return_to=%2Fhistory%3Frange%3D24h');
    expect(screen.getByLabelText('API token')).toBeInTheDocument();
  });

  it('offers only the token without it', async () => {
    mockApi().get('/auth/status', { body: { provider: false } });
    renderApp('/', { signedIn: false });
    expect(await screen.findByRole('heading', { name: 'Sign in' })).toBeInTheDocument();
    expect(screen.queryByRole('link', { name: 'Sign in with your organisation' })).not.toBeInTheDocument();
  });

  it('a signed-in person needs no token: their name is in the header, their POSTs carry the CSRF token', async () => {
    const incident = makeIncident({ status: 'open' });
    const api = mockApi()
      .get('/auth/status', { body: me })
      .get('/incidents', lastPage([incident]))
      .get(`/incidents/${incident.id}`, { body: { ...incident, alerts: [], timeline: [], alerts_next_cursor: null, timeline_next_cursor: null } })
      .post(`/incidents/${incident.id}/acknowledge`, { body: { ...incident, status: 'acknowledged', acknowledged_by: 'alice@example.com' } });
    const { user } = renderApp(`/incident/${incident.id}`, { signedIn: false });
    expect(await screen.findByText('Alice Liddell')).toBeInTheDocument();
    expect(screen.getByTitle('Your teams and roles')).toHaveTextContent('payments (responder), web (viewer)');
    await user.click(await screen.findByRole('button', { name: /Acknowledge/ }));
    await waitFor(() => expect(api.requests.some((r) => r.method === 'POST')).toBe(true));
    const post = api.requests.find((r) => r.method === 'POST')!;
    expect(post.headers.get('X-CSRF-Token')).toBe('csrf-of-the-session');
    expect(post.headers.get('Authorization')).toBeNull();
    expect(api.requests.every((r) => r.headers.get('Authorization') === null)).toBe(true);
  });
});
