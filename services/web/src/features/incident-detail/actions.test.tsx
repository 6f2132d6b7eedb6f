import { screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { Incident } from '../../shared/api/types';
import { apiError, mockApi } from '../../testing/fetchMock';
import { makeDetail, makeIncident } from '../../testing/fixtures';
import { renderApp } from '../../testing/render';

function serve(incident: Incident) {
  let current = makeDetail(incident);
  const api = mockApi()
    .get(`/incidents/${incident.id}`, () => ({ body: current }))
    .get('/oncall', { body: onCall() });
  return {
    api,
    set(next: Partial<Incident>) {
      current = { ...current, ...next };
    },
  };
}

/** Carol is on call in the platform team's primary rotation, Dan in the storage team's. */
function onCall() {
  const primary = { id: '0191e1a0-0000-7000-8000-0000000000aa', team: 'platform', name: 'primary', time_zone: 'Europe/London', created_at: '2026-11-01T00:00:00Z' };
  const carol = { id: '0191e1a0-0000-7000-8000-0000000000c0', name: 'Carol Danvers', email: 'carol@example.com' };
  const dan = { id: '0191e1a0-0000-7000-8000-0000000000d0', name: 'Dan Dare', email: 'dan@example.com' };
  const items = [
    { schedule: primary, user: carol, from: '2026-11-23T09:00:00Z', until: '2026-11-30T09:00:00Z' },
    { schedule: { ...primary, id: '0191e1a0-0000-7000-8000-0000000000ab', team: 'storage', name: 'dba' }, user: dan, from: null, until: null },
  ];
  return { at: '2026-11-26T21:00:00Z', items };
}

const actions = () => within(screen.getByRole('group', { name: 'Actions' }));

describe('incident page', () => {
  it('shows the incident with its alerts, links and timeline', async () => {
    const incident = makeIncident({ title: 'High CPU usage on web-server-01', assignee: 'bo@example.com' });
    serve(incident);
    renderApp(`/incident/${incident.id}`);
    expect(await screen.findByRole('heading', { level: 1, name: incident.title })).toBeInTheDocument();
    expect(screen.getAllByText('Critical').length).toBeGreaterThan(0);
    expect(screen.getByText('bo@example.com')).toBeInTheDocument();
    // The owning team's on-call person (not another team's), until when in the viewer's zone (UTC here).
    expect(await screen.findByText('Carol Danvers (primary, until Mon, Nov 30, 09:00)')).toBeInTheDocument();
    expect(screen.queryByText(/Dan Dare/)).not.toBeInTheDocument();
    expect(screen.getByText('node_exporter')).toBeInTheDocument();
    expect(screen.getByRole('link', { name: 'Runbook (opens in a new tab)' })).toHaveAttribute('href', 'https://runbooks.example.com/cpu');
    expect(screen.getByRole('link', { name: /Source/ })).toHaveAttribute('href', 'http://127.0.0.1:9090/graph?g0.expr=cpu');
    const timeline = screen.getByRole('region', { name: 'Timeline' });
    expect(within(timeline).getByText('Opened')).toBeInTheDocument();
    expect(within(timeline).getByText('by alertmanager')).toBeInTheDocument();
  });

  it('enables only the moves the status allows', async () => {
    const incident = makeIncident({ status: 'acknowledged' });
    serve(incident);
    renderApp(`/incident/${incident.id}`);
    await screen.findByRole('group', { name: 'Actions' });
    expect(actions().getByRole('button', { name: /^Acknowledge/ })).toBeDisabled();
    expect(actions().getByRole('button', { name: /^Resolve/ })).toBeEnabled();
    expect(actions().getByRole('button', { name: 'Reopen' })).toBeDisabled();
    expect(screen.getByRole('group', { name: 'Assignment' })).toContainElement(screen.getByRole('button', { name: 'Assign to me' }));
    expect(screen.getByRole('button', { name: 'Assign to me' })).toBeEnabled();
  });

  it('acknowledges as the signed-in name and shows the result', async () => {
    const incident = makeIncident();
    const { api, set } = serve(incident);
    const acknowledged = { ...incident, status: 'acknowledged' as const, acknowledged_by: 'ana@example.com', version: 2 };
    api.post(`/incidents/${incident.id}/acknowledge`, () => {
      set(acknowledged);
      return { body: acknowledged };
    });
    const { user } = renderApp(`/incident/${incident.id}`);
    await user.click(await screen.findByRole('button', { name: /^Acknowledge/ }));

    expect(await screen.findByText(/Acknowledged at .*The incident is now acknowledged/)).toBeInTheDocument();
    const post = api.requests.find((r) => r.method === 'POST')!;
    expect(post.body).toEqual({ actor: 'ana@example.com' });
    expect(post.headers.get('Content-Type')).toBe('application/json');
    await waitFor(() => expect(actions().getByRole('button', { name: /^Acknowledge/ })).toBeDisabled());
  });

  it('explains a 409 conflict with the API message and who acted first', async () => {
    const incident = makeIncident();
    const { api, set } = serve(incident);
    api.post(`/incidents/${incident.id}/resolve`, () => {
      set({ status: 'resolved', resolved_by: 'bo@example.com', resolved_at: '2026-11-26T20:59:00.000Z', version: 3 });
      return apiError(409, 'conflict', 'the incident is already resolved');
    });
    const { user } = renderApp(`/incident/${incident.id}`);
    await user.click(await screen.findByRole('button', { name: /^Resolve/ }));

    const alert = await screen.findByRole('alert');
    expect(alert).toHaveTextContent('Conflict: the incident is already resolved');
    await waitFor(() => expect(alert).toHaveTextContent(/It was resolved by bo@example.com at/));
    expect(actions().getByRole('button', { name: 'Reopen' })).toBeEnabled();
  });

  it('shows other API errors with their message', async () => {
    const incident = makeIncident();
    const { api } = serve(incident);
    api.post(`/incidents/${incident.id}/acknowledge`, apiError(504, 'timeout', 'incident-core did not apply the action in time'));
    const { user } = renderApp(`/incident/${incident.id}`);
    await user.click(await screen.findByRole('button', { name: /^Acknowledge/ }));
    expect(await screen.findByRole('alert')).toHaveTextContent(
      'Could not acknowledge: incident-core did not apply the action in time Check the incident before you try again.',
    );
  });

  it('assigns to me and to someone else', async () => {
    const incident = makeIncident();
    const { api, set } = serve(incident);
    api.post(`/incidents/${incident.id}/assign`, (request) => {
      const assignee = (request.body as { assignee: string }).assignee;
      const next = { ...incident, assignee, version: incident.version + 1 };
      set(next);
      return { body: next };
    });
    const { user } = renderApp(`/incident/${incident.id}`);
    await user.click(await screen.findByRole('button', { name: 'Assign to me' }));
    expect(await screen.findByText('Assigned to ana@example.com.')).toBeInTheDocument();

    await user.click(screen.getByRole('button', { name: 'Assign to…' }));
    await user.type(screen.getByLabelText('Assign to (name or e-mail)'), 'bo@example.com');
    await user.click(screen.getByRole('button', { name: 'Assign' }));
    expect(await screen.findByText('Assigned to bo@example.com.')).toBeInTheDocument();
    const bodies = api.requests.filter((r) => r.method === 'POST').map((r) => r.body);
    expect(bodies).toEqual([
      { assignee: 'ana@example.com', actor: 'ana@example.com' },
      { assignee: 'bo@example.com', actor: 'ana@example.com' },
    ]);
  });

  it('says where the escalation stands: the policy, who this round paged, and the next step and when', async () => {
    const incident = makeIncident({ title: 'Checkout errors' });
    const detail = {
      ...makeDetail(incident),
      escalation: {
        policy: { id: '0193a0c4-5b1e-7d2a-8c3f-4e5d6a7b8c9d', name: 'payments primary', version: 3 },
        pages: [
          { step: 0, pass: 0, user_id: '0193a0c4-1111-7d2a-8c3f-4e5d6a7b8c9d', user_name: 'Ana Lima', channel: null, at: '2026-11-26T20:36:26Z' },
          { step: 1, pass: 0, user_id: null, user_name: null, channel: null, at: '2026-11-26T20:46:26Z' },
        ],
        next_step: { step: 2, pass: 0, at: '2026-11-26T21:11:02Z' },
      },
    };
    mockApi().get(`/incidents/${incident.id}`, { body: detail }).get('/oncall', { body: onCall() });
    renderApp(`/incident/${incident.id}`);
    const panel = within(await screen.findByRole('region', { name: 'Escalation' }));
    expect(panel.getByText('payments primary (version 3)')).toBeInTheDocument();
    expect(panel.getByText('step 3 at Nov 26, 21:11:02 (in 11m 02s)')).toBeInTheDocument();
    expect(panel.getAllByRole('listitem').map((item) => item.textContent)).toEqual([
      'Ana Lima step 1, Nov 26, 20:36:26',
      'nobody (no one to reach) step 2, Nov 26, 20:46:26',
    ]);
  });

  it('an incident without an escalation shows none', async () => {
    const incident = makeIncident();
    mockApi().get(`/incidents/${incident.id}`, { body: { ...makeDetail(incident), escalation: null } }).get('/oncall', { body: onCall() });
    renderApp(`/incident/${incident.id}`);
    await screen.findByRole('heading', { level: 1, name: incident.title });
    expect(screen.queryByRole('region', { name: 'Escalation' })).not.toBeInTheDocument();
  });

  it('says when the incident does not exist', async () => {
    mockApi().get(/^\/incidents\/.+/, apiError(404, 'not_found', 'no incident 0000'));
    renderApp('/incident/00000000-0000-4000-8000-999999999999');
    expect(await screen.findByRole('heading', { name: 'No such incident' })).toBeInTheDocument();
    expect(screen.getByRole('alert')).toHaveTextContent('no incident 0000');
  });
});
