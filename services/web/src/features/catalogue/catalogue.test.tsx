import { screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { CatalogueEntry } from '../../shared/api/types';
import { apiError, mockApi } from '../../testing/fetchMock';
import { renderApp } from '../../testing/render';

function entry(service: string, team: string, updated_by = 'SERVICE_TEAMS'): CatalogueEntry {
  return { service, team, updated_at: '2026-12-07T09:00:00Z', updated_by };
}

function serve(entries: CatalogueEntry[]) {
  let current = entries;
  const api = mockApi().get('/services', () => ({ body: { items: current } }));
  return {
    api,
    set(next: CatalogueEntry[]) {
      current = next;
    },
  };
}

const table = () => within(screen.getByRole('table'));

describe('service catalogue page', () => {
  it('lists every service with its team and who set it, and narrows by a search over both', async () => {
    serve([entry('cart', 'payments', 'admin'), entry('checkout-api', 'payments'), entry('web-server', 'web')]);
    const { user } = renderApp('/catalogue');
    expect(await screen.findByRole('heading', { level: 1, name: 'Services' })).toBeInTheDocument();
    const rows = await screen.findAllByRole('row');
    expect(rows.slice(1).map((row) => within(row).getByRole('rowheader').textContent)).toEqual(['cart', 'checkout-api', 'web-server']);
    expect(table().getByText(/by admin$/)).toBeInTheDocument();

    await user.type(screen.getByRole('searchbox', { name: 'Search services and teams' }), 'web');
    expect(table().getAllByRole('rowheader').map((cell) => cell.textContent)).toEqual(['web-server']);
    await user.clear(screen.getByRole('searchbox', { name: 'Search services and teams' }));
    await user.type(screen.getByRole('searchbox', { name: 'Search services and teams' }), 'nothing-like-it');
    expect(screen.getByText('No service or team matches the search.')).toBeInTheDocument();
  });

  it('gives a service to a team and shows the catalogue as the API has it afterwards', async () => {
    const { api, set } = serve([entry('web-server', 'web')]);
    api.put('/services/checkout%20api', () => {
      set([entry('checkout api', 'payments', 'admin'), entry('web-server', 'web')]);
      return { status: 201, body: { added: 1, moved: 0, unchanged: 0 } };
    });
    const { user } = renderApp('/catalogue');
    const form = within(await screen.findByRole('form', { name: 'Give a service to a team' }));
    await user.type(form.getByRole('textbox', { name: 'Service' }), ' checkout api ');
    await user.type(form.getByRole('textbox', { name: 'Team' }), 'payments');
    await user.click(form.getByRole('button', { name: 'Save' }));

    expect(await screen.findByText(/Saved\. Incidents opened from now on take this team/)).toBeInTheDocument();
    const put = api.requests.find((request) => request.method === 'PUT')!;
    expect(put.body).toEqual({ team: 'payments' });
    await waitFor(() => expect(table().getAllByRole('rowheader').map((cell) => cell.textContent)).toEqual(['checkout api', 'web-server']));
    expect(form.getByRole('textbox', { name: 'Service' })).toHaveValue('');
  });

  it("says why a change was refused, in the API's words", async () => {
    const { api } = serve([entry('web-server', 'web')]);
    api.put(/^\/services\//, apiError(403, 'forbidden', 'the token `api` does not have the `admin` scope this route needs'));
    api.delete('/services/web-server', apiError(403, 'forbidden', 'the token `api` does not have the `admin` scope this route needs'));
    const { user } = renderApp('/catalogue');
    const form = within(await screen.findByRole('form', { name: 'Give a service to a team' }));
    await user.type(form.getByRole('textbox', { name: 'Service' }), 'web-server');
    await user.type(form.getByRole('textbox', { name: 'Team' }), 'platform');
    await user.click(form.getByRole('button', { name: 'Save' }));
    expect((await screen.findByText(/Could not save/)).closest('p')).toHaveTextContent('does not have the `admin` scope');

    await user.click(table().getByRole('button', { name: 'Remove web-server' }));
    expect((await screen.findByText(/Could not remove the service/)).closest('p')).toHaveTextContent('does not have the `admin` scope');
    expect(table().getAllByRole('rowheader').map((cell) => cell.textContent)).toEqual(['web-server']);
  });

  it('removes a service', async () => {
    const { api, set } = serve([entry('cart', 'payments'), entry('web-server', 'web')]);
    api.delete('/services/cart', () => {
      set([entry('web-server', 'web')]);
      return { status: 204 };
    });
    const { user } = renderApp('/catalogue');
    await user.click(await screen.findByRole('button', { name: 'Remove cart' }));
    await waitFor(() => expect(table().getAllByRole('rowheader').map((cell) => cell.textContent)).toEqual(['web-server']));
  });
});
