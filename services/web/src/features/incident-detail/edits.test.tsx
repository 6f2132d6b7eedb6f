import { screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { Incident, IncidentDetail, TimelineEntry } from '../../shared/api/types';
import { apiError, mockApi } from '../../testing/fetchMock';
import { makeDetail, makeIncident } from '../../testing/fixtures';
import { renderApp } from '../../testing/render';

/** Serves the incident's detail, whose timeline grows as the test adds entries. */
function serve(incident: Incident) {
  let detail: IncidentDetail = makeDetail(incident);
  const api = mockApi()
    .get(`/incidents/${incident.id}`, () => ({ body: detail }))
    .get('/oncall', { body: { at: '2026-11-26T21:00:00Z', items: [] } });
  return {
    api,
    add(entry: Omit<TimelineEntry, 'at' | 'status'>, next: Partial<Incident> = {}) {
      detail = { ...detail, ...next, timeline: [...detail.timeline, { ...entry, at: '2026-11-26T21:00:00Z', status: null }] };
      return { ...incident, ...next };
    },
  };
}

const timeline = () => within(screen.getByRole('region', { name: 'Timeline' }));

describe('notes and edits on the incident page', () => {
  it('renders a note from Markdown without raw HTML, javascript: links or remote images', async () => {
    const incident = makeIncident();
    const { add } = serve(incident);
    add({
      kind: 'note_added',
      actor: 'bo@example.com',
      detail: {
        text: 'Rolled back **v2.3**\n\n<img src=x onerror=alert(1)>\n\n[runbook](https://runbooks.example.com/cpu) [evil](javascript:alert(1)) ![tracker](https://evil.example/t.png)',
      },
    });
    renderApp(`/incident/${incident.id}`);
    await screen.findByRole('region', { name: 'Timeline' });
    const bold = await timeline().findByText('v2.3');
    expect(bold.tagName).toBe('STRONG');
    expect(timeline().getByText('by bo@example.com')).toBeInTheDocument();
    expect(timeline().getByRole('link', { name: 'runbook' })).toHaveAttribute('href', 'https://runbooks.example.com/cpu');
    expect(timeline().getByText('evil').closest('a')?.getAttribute('href') ?? '').not.toMatch(/javascript/i);
    const panel = screen.getByRole('region', { name: 'Timeline' });
    expect(panel.querySelector('img')).toBeNull();
    expect(panel.innerHTML).not.toContain('onerror');
    expect(timeline().getByText('tracker')).toBeInTheDocument();
  });

  it('adds a note as the signed-in name and shows it once recorded', async () => {
    const incident = makeIncident();
    const { api, add } = serve(incident);
    api.post(`/incidents/${incident.id}/notes`, (request) => {
      const { text } = request.body as { text: string };
      return { body: add({ kind: 'note_added', actor: 'ana@example.com', detail: { text } }, { version: 2 }) };
    });
    const { user } = renderApp(`/incident/${incident.id}`);
    await user.type(await screen.findByLabelText('Note'), 'Paged the *database* team');
    await user.click(screen.getByRole('button', { name: 'Add note' }));
    expect(await timeline().findByText('database')).toBeInTheDocument();
    expect(screen.getByLabelText('Note')).toHaveValue('');
    const post = api.requests.find((r) => r.method === 'POST')!;
    expect(post.body).toEqual({ text: 'Paged the *database* team', actor: 'ana@example.com' });
  });

  it('keeps a note over the limit from being sent and shows a refusal', async () => {
    const incident = makeIncident();
    const { api } = serve(incident);
    api.post(`/incidents/${incident.id}/notes`, apiError(400, 'invalid_payload', 'text is 9000 bytes, over the limit of 8192 bytes for a note'));
    const { user } = renderApp(`/incident/${incident.id}`);
    const note = await screen.findByLabelText('Note');
    await user.click(note);
    await user.paste('é'.repeat(4097));
    expect(screen.getByText('8194 of 8192 bytes: too long')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Add note' })).toBeDisabled();
    await user.clear(note);
    await user.type(note, 'short');
    await user.click(screen.getByRole('button', { name: 'Add note' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('Could not add the note: text is 9000 bytes');
  });

  it('edits only what changed and shows the change on the timeline', async () => {
    const incident = makeIncident({ severity: 'warning', title: 'High CPU' });
    const { api, add } = serve(incident);
    api.post(`/incidents/${incident.id}/edit`, () => ({
      body: add(
        { kind: 'edited', actor: 'ana@example.com', detail: { severity: { from: 'warning', to: 'critical' } } },
        { severity: 'critical', version: 2 },
      ),
    }));
    const { user } = renderApp(`/incident/${incident.id}`);
    await user.click(await screen.findByRole('button', { name: 'Edit' }));
    const form = within(screen.getByRole('form', { name: 'Edit incident' }));
    expect(form.getByRole('button', { name: 'Save' })).toBeDisabled();
    await user.selectOptions(form.getByLabelText('Severity'), 'critical');
    await user.click(form.getByRole('button', { name: 'Save' }));
    expect(await timeline().findByText('severity: warning → critical')).toBeInTheDocument();
    await waitFor(() => expect(screen.queryByRole('form', { name: 'Edit incident' })).not.toBeInTheDocument());
    const post = api.requests.find((r) => r.method === 'POST')!;
    expect(post.body).toEqual({ title: null, severity: 'critical', actor: 'ana@example.com' });
  });
});
