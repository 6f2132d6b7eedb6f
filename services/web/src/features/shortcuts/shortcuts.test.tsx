import { screen, waitFor } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { Incident } from '../../shared/api/types';
import { mockApi } from '../../testing/fetchMock';
import { lastPage, makeDetail, makeIncident } from '../../testing/fixtures';
import { renderApp } from '../../testing/render';

function board() {
  // Newest first within a severity: "Newest" is the first row, "Older" the second.
  const newest = makeIncident({ title: 'Newest', opened_at: '2026-11-26T20:50:00Z' });
  const older = makeIncident({ title: 'Older', opened_at: '2026-11-26T20:40:00Z', status: 'acknowledged' });
  const api = mockApi()
    .get('/incidents', lastPage([older, newest]))
    .get(/^\/incidents\/[^/]+$/, (request) => ({ body: makeDetail(request.url.pathname.endsWith(newest.id) ? newest : older) }));
  return { api, newest, older };
}

const selectedTitle = () => document.querySelector('[data-selected] a')?.textContent;

describe('keyboard shortcuts', () => {
  it('j/k and the arrows move the selection, and focus follows', async () => {
    board();
    const { user } = renderApp('/');
    await screen.findByRole('link', { name: 'Newest' });
    await user.keyboard('j');
    expect(selectedTitle()).toBe('Newest');
    await waitFor(() => expect(screen.getByRole('link', { name: 'Newest' })).toHaveFocus());
    await user.keyboard('j');
    expect(selectedTitle()).toBe('Older');
    await user.keyboard('{ArrowUp}');
    expect(selectedTitle()).toBe('Newest');
    await user.keyboard('{ArrowDown}');
    expect(selectedTitle()).toBe('Older');
    await user.keyboard('k');
    expect(selectedTitle()).toBe('Newest');
  });

  it('Enter opens the selected incident', async () => {
    const { newest } = board();
    const { user, location } = renderApp('/');
    await screen.findByRole('link', { name: 'Newest' });
    await user.keyboard('j');
    await user.keyboard('{Enter}');
    expect(await screen.findByRole('heading', { level: 1, name: 'Newest' })).toBeInTheDocument();
    expect(location()).toBe(`/incident/${newest.id}`);
  });

  it('a acknowledges and r resolves the selected incident', async () => {
    const { api, newest, older } = board();
    const answer = (incident: Incident, status: Incident['status']) => ({ body: { ...incident, status, version: incident.version + 1 } });
    api.post(`/incidents/${newest.id}/acknowledge`, answer(newest, 'acknowledged'));
    api.post(`/incidents/${older.id}/resolve`, answer(older, 'resolved'));
    const { user } = renderApp('/');
    await screen.findByRole('link', { name: 'Newest' });

    await user.keyboard('j');
    await user.keyboard('a');
    expect(await screen.findByText('Acknowledged “Newest”.')).toBeInTheDocument();

    await user.keyboard('j');
    await user.keyboard('r');
    expect(await screen.findByText('Resolved “Older”.')).toBeInTheDocument();
    const posts = api.requests.filter((r) => r.method === 'POST').map((r) => r.url.pathname);
    expect(posts).toEqual([`/incidents/${newest.id}/acknowledge`, `/incidents/${older.id}/resolve`]);
    // The resolved one leaves the active list.
    await waitFor(() => expect(screen.queryByRole('link', { name: 'Older' })).not.toBeInTheDocument());
  });

  it('a on an acknowledged incident explains instead of calling the API', async () => {
    const { api } = board();
    const { user } = renderApp('/');
    await screen.findByRole('link', { name: 'Older' });
    await user.keyboard('jj');
    await user.keyboard('a');
    expect(await screen.findByRole('alert')).toHaveTextContent('Cannot acknowledge “Older”: it is acknowledged.');
    expect(api.requests.filter((r) => r.method === 'POST')).toHaveLength(0);
  });

  it('? shows the shortcuts and Escape closes them', async () => {
    board();
    const { user } = renderApp('/');
    await screen.findByRole('link', { name: 'Newest' });
    await user.keyboard('?');
    const dialog = await screen.findByRole('dialog', { name: 'Keyboard shortcuts' });
    expect(dialog).toHaveTextContent('Acknowledge the selected');
    // The page under the dialog does not react.
    await user.keyboard('j');
    expect(selectedTitle()).toBeUndefined();
    await user.keyboard('{Escape}');
    expect(screen.queryByRole('dialog')).not.toBeInTheDocument();
  });

  it('does nothing while the user types in a field', async () => {
    const { api } = board();
    const { user } = renderApp('/');
    await screen.findByRole('link', { name: 'Newest' });
    const field = screen.getByLabelText('Service');
    await user.click(field);
    await user.keyboard('jar?');
    expect(field).toHaveValue('jar?');
    expect(selectedTitle()).toBeUndefined();
    expect(screen.queryByRole('dialog')).not.toBeInTheDocument();
    expect(api.requests.filter((r) => r.method === 'POST')).toHaveLength(0);
  });

  it('a and r act on the incident page too', async () => {
    const { api, newest } = board();
    api.post(`/incidents/${newest.id}/acknowledge`, { body: { ...newest, status: 'acknowledged', version: 2 } });
    const { user } = renderApp(`/incident/${newest.id}`);
    await screen.findByRole('heading', { level: 1, name: 'Newest' });
    await user.keyboard('a');
    await waitFor(() => expect(api.requests.filter((r) => r.method === 'POST')).toHaveLength(1));
  });
});
