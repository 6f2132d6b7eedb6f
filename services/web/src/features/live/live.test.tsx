import { act, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { mockApi } from '../../testing/fetchMock';
import { lastPage, makeEvent, makeIncident } from '../../testing/fixtures';
import { renderApp } from '../../testing/render';

function listRequests(api: ReturnType<typeof mockApi>) {
  return api.requests.filter((r) => r.url.pathname === '/incidents');
}

describe('live updates', () => {
  it('shows a new incident from the stream without a refetch', async () => {
    const first = makeIncident({ title: 'Disk almost full', service: 'db', severity: 'warning' });
    const api = mockApi().get('/incidents', lastPage([first]));
    const { stream } = renderApp('/');
    await screen.findByRole('link', { name: /Disk almost full/ });
    act(() => stream.ready());
    await waitFor(() => expect(screen.getByTestId('connection')).toHaveTextContent('Live'));
    const fetched = listRequests(api).length;

    const fresh = makeIncident({ title: 'Checkout latency high', service: 'checkout', severity: 'critical' });
    act(() => stream.push(makeEvent(fresh)));

    expect(await screen.findByRole('link', { name: /Checkout latency high/ })).toBeInTheDocument();
    expect(listRequests(api)).toHaveLength(fetched);
    // Announced once, politely.
    expect(await screen.findByText(/New critical incident: Checkout latency high/)).toBeInTheDocument();
  });

  it('applies a newer version and ignores an older one', async () => {
    const incident = makeIncident({ title: 'API errors', version: 2 });
    mockApi().get('/incidents', lastPage([incident]));
    const { stream } = renderApp('/');
    const link = await screen.findByRole('link', { name: /API errors/ });
    const row = link.closest('[data-incident-id]') as HTMLElement;

    act(() => stream.push(makeEvent({ ...incident, status: 'acknowledged', version: 3 }, 'acknowledged')));
    await waitFor(() => expect(within(row).getByText('Acknowledged')).toBeInTheDocument());

    act(() => stream.push(makeEvent({ ...incident, status: 'open', version: 2 }, 'opened')));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(within(row).getByText('Acknowledged')).toBeInTheDocument();
  });

  it('removes an incident resolved elsewhere from the active list', async () => {
    const incident = makeIncident({ title: 'Queue backlog' });
    mockApi().get('/incidents', lastPage([incident]));
    const { stream } = renderApp('/');
    await screen.findByRole('link', { name: /Queue backlog/ });
    act(() => stream.push(makeEvent({ ...incident, status: 'resolved', version: 2 }, 'resolved')));
    await waitFor(() => expect(screen.queryByRole('link', { name: /Queue backlog/ })).not.toBeInTheDocument());
  });

  it('refetches the lists after a reconnect, and shows the connection state', async () => {
    const api = mockApi().get('/incidents', lastPage([]));
    const { stream } = renderApp('/');
    await screen.findByText(/All quiet/);
    expect(stream.token).toBe('test-token');

    act(() => stream.drop());
    expect(screen.getByTestId('connection')).toHaveTextContent(/Reconnecting since 21:00:00/);
    const before = listRequests(api).length;

    act(() => stream.ready());
    expect(screen.getByTestId('connection')).toHaveTextContent('Live');
    // One refetch: a request per severity, read side by side.
    await waitFor(() => expect(listRequests(api).length).toBe(before + 4));
  });

  it('refetches everything on reset', async () => {
    const api = mockApi().get('/incidents', lastPage([]));
    const { stream } = renderApp('/');
    await screen.findByText(/All quiet/);
    const before = listRequests(api).length;
    act(() => stream.reset());
    await waitFor(() => expect(listRequests(api).length).toBe(before + 4));
  });

  it('pages through every incident with next_cursor', async () => {
    const api = mockApi().get('/incidents', (request) =>
      request.url.searchParams.get('cursor') === 'page2'
        ? lastPage([makeIncident({ title: 'Second page' })])
        : { body: { items: [makeIncident({ title: 'First page' })], next_cursor: 'page2' } },
    );
    renderApp('/?severity=critical');
    await screen.findByRole('link', { name: /Second page/ });
    expect(screen.getByRole('link', { name: /First page/ })).toBeInTheDocument();
    const [first] = listRequests(api);
    expect(first!.url.searchParams.get('status')).toBe('open,acknowledged');
    expect(first!.url.searchParams.get('severity')).toBe('critical');
    expect(first!.url.searchParams.get('limit')).toBe('500');
    expect(first!.headers.get('Authorization')).toBe('Bearer test-token');
  });
});

describe('new incidents', () => {
  it('are not announced when the filters change, only when they arrive', async () => {
    const first = makeIncident({ title: 'First' });
    const resolved = makeIncident({ title: 'Filtered in', status: 'resolved' });
    mockApi().get('/incidents', (request) => {
      const critical = request.url.searchParams.get('severity') === 'critical';
      const withResolved = request.url.searchParams.get('status')!.includes('resolved');
      return lastPage(critical ? (withResolved ? [first, resolved] : [first]) : []);
    });
    const { user } = renderApp('/');
    await screen.findByRole('link', { name: 'First' });
    await user.click(screen.getByRole('button', { name: 'Resolved', pressed: false }));
    await screen.findByRole('link', { name: 'Filtered in' });
    expect(screen.queryByText(/New critical incident/)).not.toBeInTheDocument();
  });
});
