import { screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { mockApi } from '../../testing/fetchMock';
import { lastPage, makeIncident } from '../../testing/fixtures';
import { renderApp } from '../../testing/render';

describe('wallboard', () => {
  it('shows the brand in large type, a way out for the keyboard, and the count in the tab title', async () => {
    const items = [
      makeIncident({ service: 'checkout', severity: 'critical', title: 'Checkout down' }),
      makeIncident({ service: 'search', severity: 'warning', title: 'Search slow', status: 'acknowledged', acknowledged_by: 'ana@example.com' }),
    ];
    mockApi().get('/incidents', lastPage(items));
    const { user, location } = renderApp('/wallboard');
    const board = await screen.findByTestId('wallboard');
    await within(board).findByRole('region', { name: 'checkout' });
    expect(board).toHaveAttribute('data-loaded', 'true');
    expect(board).toHaveAttribute('data-count', '2');
    expect(document.title).toBe('(2) Wallboard · tocsin');
    const header = screen.getByRole('banner');
    expect(header.firstElementChild).toHaveTextContent(/^tocsin$/);
    expect(header.firstElementChild).toHaveClass('text-3xl');
    expect(within(screen.getByRole('region', { name: 'search' })).getByText(/ACK · ana/)).toBeInTheDocument();

    await user.tab();
    const leave = screen.getByRole('link', { name: 'Leave the wallboard' });
    expect(leave).toHaveFocus();
    await user.keyboard('{Enter}');
    expect(location()).toBe('/');
  });
});
