import { screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { ScheduleShifts, Shift } from '../../shared/api/types';
import { apiError, mockApi } from '../../testing/fetchMock';
import { renderApp } from '../../testing/render';

const SCHEDULE = '0191e1a0-0000-7000-8000-0000000000aa';
const alice = { id: '0191e1a0-0000-7000-8000-00000000a11c', name: 'Alice Liddell', email: 'alice@example.com' };
const bob = { id: '0191e1a0-0000-7000-8000-000000000b0b', name: 'Bob Dobbs', email: 'bob@example.com' };
const signedInAlice = {
  provider: true,
  user: { ...alice, is_admin: false },
  teams: [{ slug: 'payments', name: 'Payments', role: 'manager' }],
  default_role: 'viewer',
  csrf_token: 'csrf-of-the-session',
  expires_at: '2026-12-08T09:00:00Z',
};
const schedule = { id: SCHEDULE, team: 'payments', name: 'primary', time_zone: 'America/New_York', created_at: '2026-11-01T00:00:00Z', layers: [], overrides: [] };
const LAYER = '0191e1a0-0000-7000-8000-0000000000bb';

const shift = (user: typeof bob, from: string, until: string, override = false): Shift => ({
  user,
  from,
  until,
  layer_id: override ? null : LAYER,
  override_id: override ? '0191e1a0-0000-7000-8000-0000000000ff' : null,
});

/** The week of the tests' now (Thursday 2026-11-26 21:00 UTC): Bob until Friday 14:00, nobody until Saturday 14:00, Bob again. */
function week(final: Shift[]): ScheduleShifts {
  return {
    schedule_id: SCHEDULE,
    time_zone: 'America/New_York',
    from: '2026-11-23T00:00:00Z',
    until: '2026-11-30T00:00:00Z',
    final,
    gaps: [{ from: '2026-11-27T14:00:00Z', until: '2026-11-28T14:00:00Z' }],
    layers: [],
    overrides: [],
  };
}

describe('schedule page', () => {
  it('draws the week with its gap, moves week by week, and takes a shift for the signed-in person', async () => {
    let final = [shift(bob, '2026-11-23T00:00:00Z', '2026-11-27T14:00:00Z'), shift(bob, '2026-11-28T14:00:00Z', '2026-11-30T00:00:00Z')];
    const api = mockApi()
      .get('/auth/status', { body: signedInAlice })
      .get(`/schedules/${SCHEDULE}`, { body: schedule })
      .get(`/schedules/${SCHEDULE}/shifts`, () => ({ body: week(final) }))
      .post(`/schedules/${SCHEDULE}/overrides`, (request) => {
        const body = request.body as { from: string; until: string };
        // A from already past is taken as now, as the API does.
        final = [shift(bob, '2026-11-23T00:00:00Z', '2026-11-26T21:00:00Z'), shift(alice, '2026-11-26T21:00:00Z', body.until, true), final[1]!];
        return { status: 201, body: { id: 'o1', user: alice, replaces: bob, from: '2026-11-26T21:00:00Z', until: body.until, reason: 'x', created_by: 'alice@example.com' } };
      });
    const { user } = renderApp(`/rotations/${SCHEDULE}`, { signedIn: false });
    expect(await screen.findByRole('heading', { level: 1, name: 'payments: primary' })).toBeInTheDocument();
    expect(screen.getByText('Hands off in America/New_York; shown in your time zone, UTC.')).toBeInTheDocument();
    expect(screen.getByTestId('week')).toHaveTextContent('Week of Monday, November 23, 2026');
    const shifts = api.requests.filter((request) => request.url.pathname.endsWith('/shifts'));
    expect(shifts.map((request) => Object.fromEntries(request.url.searchParams))).toEqual([
      { from: '2026-11-23T00:00:00.000Z', until: '2026-11-30T00:00:00.000Z' },
    ]);

    // The timeline: seven days, Friday and Saturday carrying the gap, struck in red.
    const timeline = await screen.findByTestId('week-timeline');
    expect(timeline.querySelectorAll('[data-kind="gap"]')).toHaveLength(2);
    expect(timeline.querySelectorAll('[data-kind="shift"]').length).toBeGreaterThanOrEqual(7);

    // In words: Bob, nobody, Bob.
    const list = within(screen.getByRole('region', { name: 'Who is on call this week' }));
    expect(list.getAllByRole('listitem').map((item) => item.textContent)).toEqual([
      expect.stringMatching(/^Bob Dobbs.*Mon, Nov 23, 00:00 to Fri, Nov 27, 14:00/),
      'Nobody on callFri, Nov 27, 14:00 to Sat, Nov 28, 14:00',
      expect.stringMatching(/^Bob Dobbs.*Sat, Nov 28, 14:00 to Mon, Nov 30, 00:00/),
    ]);

    await user.click(list.getByRole('button', { name: 'Take this shift: Bob Dobbs, Mon, Nov 23, 00:00 to Fri, Nov 27, 14:00' }));
    expect(await screen.findByText(/You are on call from Thu, Nov 26, 21:00 to Fri, Nov 27, 14:00 in place of Bob Dobbs/)).toBeInTheDocument();
    const post = api.requests.find((request) => request.method === 'POST')!;
    expect(post.body).toEqual({
      user: 'alice@example.com',
      replaces: bob.id,
      from: '2026-11-23T00:00:00Z',
      until: '2026-11-27T14:00:00Z',
      reason: 'taken on the schedule page',
    });
    expect(post.headers.get('X-CSRF-Token')).toBe('csrf-of-the-session');
    // The final result is asked again and shows Alice's override.
    await waitFor(() => expect(list.getAllByRole('listitem')[1]).toHaveTextContent(/^Alice Liddelloverride/));

    await user.click(screen.getByRole('button', { name: /Next week/ }));
    expect(screen.getByTestId('week')).toHaveTextContent('Week of Monday, November 30, 2026');
    await waitFor(() =>
      expect(api.requests.filter((request) => request.url.pathname.endsWith('/shifts')).at(-1)!.url.searchParams.get('from')).toBe(
        '2026-11-30T00:00:00.000Z',
      ),
    );
    await user.click(screen.getByRole('button', { name: 'This week' }));
    expect(screen.getByTestId('week')).toHaveTextContent('Week of Monday, November 23, 2026');
  });

  it('says plainly when another override already covers part of the shift (409)', async () => {
    mockApi()
      .get('/auth/status', { body: signedInAlice })
      .get(`/schedules/${SCHEDULE}`, { body: schedule })
      .get(`/schedules/${SCHEDULE}/shifts`, { body: week([shift(bob, '2026-11-23T00:00:00Z', '2026-11-30T00:00:00Z')]) })
      .post(`/schedules/${SCHEDULE}/overrides`, apiError(409, 'conflict', 'another override of this schedule covers part of that time'));
    const { user } = renderApp(`/rotations/${SCHEDULE}`, { signedIn: false });
    await user.click(await screen.findByRole('button', { name: /^Take this shift: Bob Dobbs/ }));
    expect(await screen.findByRole('alert')).toHaveTextContent(
      'Someone has already taken part of that shift: another override of this schedule covers some of that time (another override of this schedule covers part of that time).',
    );
  });

  it('a responder of the team takes a shift too', async () => {
    mockApi()
      .get('/auth/status', { body: { ...signedInAlice, teams: [{ slug: 'payments', name: 'Payments', role: 'responder' }] } })
      .get(`/schedules/${SCHEDULE}`, { body: schedule })
      .get(`/schedules/${SCHEDULE}/shifts`, { body: week([shift(bob, '2026-11-23T00:00:00Z', '2026-11-30T00:00:00Z')]) });
    renderApp(`/rotations/${SCHEDULE}`, { signedIn: false });
    expect(await screen.findByRole('button', { name: /^Take this shift: Bob Dobbs/ })).toBeInTheDocument();
  });

  it('a viewer of the team sees the week but is told who takes shifts', async () => {
    mockApi()
      .get('/auth/status', { body: { ...signedInAlice, teams: [{ slug: 'payments', name: 'Payments', role: 'viewer' }] } })
      .get(`/schedules/${SCHEDULE}`, { body: schedule })
      .get(`/schedules/${SCHEDULE}/shifts`, { body: week([shift(bob, '2026-11-23T00:00:00Z', '2026-11-30T00:00:00Z')]) });
    renderApp(`/rotations/${SCHEDULE}`, { signedIn: false });
    expect(await screen.findByText("The team's responders, managers and admins take shifts.")).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: /^Take/ })).not.toBeInTheDocument();
  });

  it('a shared token sees the week but cannot take shifts', async () => {
    mockApi()
      .get('/auth/status', { body: { provider: false } })
      .get(`/schedules/${SCHEDULE}`, { body: schedule })
      .get(`/schedules/${SCHEDULE}/shifts`, { body: week([shift(bob, '2026-11-23T00:00:00Z', '2026-11-30T00:00:00Z')]) });
    renderApp(`/rotations/${SCHEDULE}`);
    expect(await screen.findByText(/Sign in with your organisation.s sign-in to take a shift/)).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: /^Take/ })).not.toBeInTheDocument();
  });
});
