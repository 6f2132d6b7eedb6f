import { screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { PersonalToken } from '../../shared/api/types';
import { apiError, mockApi } from '../../testing/fetchMock';
import { renderApp } from '../../testing/render';

const alice = {
  provider: true,
  user: { id: '0191e1a0-0000-7000-8000-000000000001', name: 'Alice Liddell', email: 'alice@example.com', is_admin: false },
  teams: [{ slug: 'payments', name: 'Payments', role: 'responder' }],
  default_role: 'viewer',
  csrf_token: 'csrf-of-the-session',
  expires_at: '2026-12-08T09:00:00Z',
};

function token(name: string, changes: Partial<PersonalToken> = {}): PersonalToken {
  return {
    id: `0191e1a0-0000-7000-8000-${name.padStart(12, '0').slice(-12).replace(/[^0-9a-f]/g, '0')}`,
    name,
    scopes: ['read'],
    created_at: '2026-12-01T09:00:00Z',
    expires_at: '2099-01-01T00:00:00Z',
    last_used_at: null,
    revoked_at: null,
    ...changes,
  };
}

describe('API tokens page', () => {
  it('lists the person’s tokens, makes one showing its secret once, and revokes one', async () => {
    let tokens = [token('laptop', { scopes: ['read', 'act'], last_used_at: '2026-12-07T08:00:00Z' }), token('old', { revoked_at: '2026-12-02T09:00:00Z' })];
    const api = mockApi()
      .get('/auth/status', { body: alice })
      .get('/users/me/tokens', () => ({ body: { items: tokens } }))
      .post('/users/me/tokens', (request) => {
        const made = token('grafana', { scopes: (request.body as { scopes: string[] }).scopes });
        tokens = [made, ...tokens];
        return { status: 201, body: { token: made, secret: 'tocsin_pat_shown-this-once' } };
      })
      .delete(/^\/users\/me\/tokens\//, () => {
        tokens = tokens.map((held) => (held.name === 'laptop' ? { ...held, revoked_at: '2026-12-07T10:00:00Z' } : held));
        return { status: 204 };
      });
    const { user } = renderApp('/tokens', { signedIn: false });
    expect(await screen.findByRole('heading', { level: 1, name: 'API tokens' })).toBeInTheDocument();
    const table = within(await screen.findByRole('table'));
    expect(table.getAllByRole('rowheader').map((cell) => cell.textContent)).toEqual(['laptop', 'old']);
    expect(table.getByText('read, act')).toBeInTheDocument();
    expect(table.getByText(/^revoked /)).toBeInTheDocument();
    expect(table.queryByRole('button', { name: 'Revoke old' })).not.toBeInTheDocument();

    const form = within(screen.getByRole('form', { name: 'Make a token' }));
    await user.type(form.getByRole('textbox', { name: 'Name' }), ' grafana ');
    await user.click(form.getByRole('checkbox', { name: 'Act' }));
    await user.click(form.getByRole('button', { name: 'Make token' }));
    expect(await screen.findByLabelText('The new token')).toHaveTextContent('tocsin_pat_shown-this-once');
    const post = api.requests.find((request) => request.method === 'POST')!;
    expect(post.body).toEqual({ name: 'grafana', scopes: ['read', 'act'], expires_in_days: 90 });
    expect(post.headers.get('X-CSRF-Token')).toBe('csrf-of-the-session');
    await waitFor(() => expect(table.getAllByRole('rowheader').map((cell) => cell.textContent)).toEqual(['grafana', 'laptop', 'old']));

    await user.click(table.getByRole('button', { name: 'Revoke laptop' }));
    await waitFor(() => expect(table.queryByRole('button', { name: 'Revoke laptop' })).not.toBeInTheDocument());
    expect(api.requests.some((request) => request.method === 'DELETE' && request.url.pathname.endsWith(tokens[1]!.id))).toBe(true);
  });

  it('says why a token was refused, in the API’s words', async () => {
    mockApi()
      .get('/auth/status', { body: alice })
      .get('/users/me/tokens', { body: { items: [] } })
      .post('/users/me/tokens', apiError(409, 'conflict', 'name: this person already has a token named "laptop"'));
    const { user } = renderApp('/tokens', { signedIn: false });
    expect(await screen.findByText('You have no tokens.')).toBeInTheDocument();
    const form = within(screen.getByRole('form', { name: 'Make a token' }));
    await user.type(form.getByRole('textbox', { name: 'Name' }), 'laptop');
    await user.click(form.getByRole('button', { name: 'Make token' }));
    expect(await screen.findByText(/already has a token named "laptop"/)).toBeInTheDocument();
  });

  it('a shared token has no personal tokens and says so', async () => {
    mockApi().get('/auth/status', { body: { provider: false } });
    renderApp('/tokens');
    expect(await screen.findByText(/You are using a shared token/)).toBeInTheDocument();
  });
});
