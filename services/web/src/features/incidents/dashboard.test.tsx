import { screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { mockApi } from '../../testing/fetchMock';
import { lastPage, makeIncident, manyIncidents } from '../../testing/fixtures';
import { renderApp } from '../../testing/render';

describe('dashboard', () => {
  it('groups active incidents by service with counts per severity, most urgent first', async () => {
    const items = [
      makeIncident({ service: 'payments', severity: 'warning', title: 'Slow refunds' }),
      makeIncident({ service: 'checkout', severity: 'critical', title: 'Checkout down' }),
      makeIncident({ service: 'checkout', severity: 'high', title: 'Checkout slow', status: 'acknowledged' }),
    ];
    mockApi().get('/incidents', lastPage(items));
    renderApp('/');
    const groups = await screen.findAllByRole('heading', { level: 2 });
    expect(groups.map((g) => g.textContent)).toEqual(['checkout', 'payments']);
    const checkout = groups[0]!.parentElement!;
    expect(within(checkout).getByText('2 incidents')).toBeInTheDocument();
    expect(within(checkout).getByTitle('1 critical')).toBeInTheDocument();
    expect(within(checkout).getByTitle('1 high')).toBeInTheDocument();
    // Severity is told in words too, not by colour alone.
    const row = screen.getByRole('link', { name: 'Checkout down' }).closest('[data-incident-id]') as HTMLElement;
    expect(within(row).getByText('Critical')).toBeInTheDocument();
    expect(within(row).getByText('Open')).toBeInTheDocument();
    expect(within(row).getByText('23m 34s')).toBeInTheDocument();
  });

  it('offers Ack and Resolve on each row, each enabled only where it applies', async () => {
    const open = makeIncident({ service: 'checkout', title: 'Checkout down' });
    const acked = makeIncident({ service: 'checkout', title: 'Checkout slow', status: 'acknowledged', severity: 'high' });
    const api = mockApi()
      .get('/incidents', lastPage([open, acked]))
      .post(`/incidents/${acked.id}/resolve`, { body: { ...acked, status: 'resolved', version: acked.version + 1 } });
    const { user } = renderApp('/');
    const ack = await screen.findByRole('button', { name: 'Acknowledge Checkout down' });
    expect(ack).toHaveTextContent('Ack a');
    expect(ack).toBeEnabled();
    expect(screen.getByRole('button', { name: 'Resolve Checkout down' })).toHaveTextContent('Resolve r');
    expect(screen.getByRole('button', { name: 'Acknowledge Checkout slow' })).toBeDisabled();
    await user.click(screen.getByRole('button', { name: 'Resolve Checkout slow' }));
    expect(await screen.findByText('Resolved “Checkout slow”.')).toBeInTheDocument();
    expect(api.requests.filter((r) => r.method === 'POST').map((r) => r.url.pathname)).toEqual([`/incidents/${acked.id}/resolve`]);
  });

  it('filters through the URL and says so in one sentence', async () => {
    const api = mockApi().get('/incidents', lastPage([]));
    const { user, location } = renderApp('/');
    await screen.findByText(/All quiet/);
    await user.click(screen.getByRole('button', { name: /Critical/, pressed: false }));
    await user.selectOptions(screen.getByLabelText('Opened'), '24h');
    expect(location()).toBe('/?range=24h&severity=critical');
    expect(screen.getByTestId('filter-summary')).toHaveTextContent(
      'Open or acknowledged incidents of critical severity opened in the last 24 hours.',
    );
    const last = api.requests.at(-1)!.url.searchParams;
    expect(last.get('severity')).toBe('critical');
    expect(last.get('since')).toBe('2026-11-25T21:00:00.000Z');
  });

  it('renders 5,000 incidents at once, with big groups collapsed to a preview', async () => {
    const items = manyIncidents(5000);
    const api = mockApi().get('/incidents', (request) => {
      const mine = items.filter((i) => i.severity === request.url.searchParams.get('severity'));
      const page = Number(request.url.searchParams.get('cursor') ?? 0);
      const next = page + 500 < mine.length ? String(page + 500) : null;
      return { body: { items: mine.slice(page, page + 500), next_cursor: next } };
    });
    renderApp('/');
    const board = await screen.findByTestId('incident-board', {}, { timeout: 5000 });
    await within(document.body).findByText('5,000 incidents');
    expect(board).toHaveAttribute('data-count', '5000');
    expect(board).toHaveAttribute('data-loaded', 'true');
    expect(screen.getAllByRole('button', { name: /Show all 100 incidents of/ }).length).toBeGreaterThan(0);
    // Only what fits the window is in the DOM.
    expect(board.querySelectorAll('[data-incident-id]').length).toBeLessThan(60);
    // Four chains (one per severity) of three pages each, read side by side.
    expect(api.requests).toHaveLength(12);
  });
});
