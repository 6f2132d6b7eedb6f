import { screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { apiError, mockApi } from '../../testing/fetchMock';
import { renderApp } from '../../testing/render';

const schedule = (id: string, team: string, name: string) => ({
  id: `0191e1a0-0000-7000-8000-${id.padStart(12, '0')}`,
  team,
  name,
  time_zone: 'America/New_York',
  created_at: '2026-11-01T00:00:00Z',
});
const alice = { id: '0191e1a0-0000-7000-8000-00000000a11c', name: 'Alice Liddell', email: 'alice@example.com' };

describe('on call now page', () => {
  it('lists each team with who is on call and until when, in the viewer’s zone, linking to each schedule', async () => {
    const api = mockApi().get('/oncall', {
      body: {
        at: '2026-11-26T21:00:00Z',
        items: [
          { schedule: schedule('1', 'payments', 'primary'), user: alice, from: '2026-11-23T14:00:00Z', until: '2026-11-30T14:00:00Z' },
          { schedule: schedule('2', 'payments', 'secondary'), user: null, from: null, until: '2026-11-27T14:00:00Z' },
          { schedule: schedule('3', 'storage', 'dba'), user: alice, from: null, until: null },
        ],
      },
    });
    const { user, location } = renderApp('/on-call');
    expect(await screen.findByRole('heading', { level: 1, name: 'On call now' })).toBeInTheDocument();
    expect(screen.getByText('Times in your time zone, UTC.')).toBeInTheDocument();

    const payments = within(await screen.findByRole('region', { name: 'payments' }));
    const [primary, secondary] = payments.getAllByRole('listitem');
    expect(primary).toHaveTextContent('Alice Liddell');
    expect(primary).toHaveTextContent('since Mon, Nov 23, 14:00, until Mon, Nov 30, 14:00');
    expect(secondary).toHaveTextContent('Nobody is on call');
    expect(secondary).toHaveTextContent('until Fri, Nov 27, 14:00, when the next shift starts');
    expect(within(screen.getByRole('region', { name: 'storage' })).getByRole('listitem')).toHaveTextContent('until further notice');
    expect(api.requests.map((request) => request.url.pathname + request.url.search)).toEqual(['/oncall']);

    await user.click(payments.getByRole('link', { name: 'primary' }));
    expect(location()).toBe(`/rotations/${schedule('1', 'payments', 'primary').id}`);
  });

  it('says when no team has a schedule, and shows the API’s error', async () => {
    mockApi().get('/oncall', { body: { at: '2026-11-26T21:00:00Z', items: [] } });
    renderApp('/on-call');
    expect(await screen.findByText(/No team has a schedule yet/)).toBeInTheDocument();
  });

  it('shows the API’s message when it refuses', async () => {
    mockApi().get('/oncall', apiError(403, 'forbidden', 'reading schedules needs the read scope'));
    renderApp('/on-call');
    expect(await screen.findByRole('alert')).toHaveTextContent('reading schedules needs the read scope');
  });
});
