import { screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { mockApi } from '../../testing/fetchMock';
import { lastPage, makeIncident } from '../../testing/fixtures';
import { renderApp } from '../../testing/render';

describe('history page', () => {
  it('lists resolved incidents with TTA and TTR, and MTTA/MTTR for the set', async () => {
    const items = [
      makeIncident({
        title: 'Disk full',
        status: 'resolved',
        opened_at: '2026-11-26T18:00:00Z',
        acknowledged_at: '2026-11-26T18:02:00Z',
        resolved_at: '2026-11-26T18:30:00Z',
        resolved_by: 'ana',
      }),
      makeIncident({
        title: 'Flapping probe',
        status: 'resolved',
        opened_at: '2026-11-26T19:00:00Z',
        resolved_at: '2026-11-26T19:10:00Z',
        resolved_by: 'tocsin',
      }),
    ];
    const api = mockApi().get('/incidents', lastPage(items));
    renderApp('/history');
    expect(await screen.findByRole('link', { name: 'Disk full' })).toBeInTheDocument();
    expect(screen.getByTestId('mtta')).toHaveTextContent('2m 00s');
    expect(screen.getByTestId('mttr')).toHaveTextContent('20m 00s');
    expect(screen.getByText('not acked')).toBeInTheDocument();
    expect(screen.getByText('Thursday, November 26, 2026')).toBeInTheDocument();
    expect(screen.getByRole('list', { name: 'Resolved incidents' })).toHaveAttribute('data-count', '2');
    expect(screen.getByTestId('history')).toHaveAttribute('data-loaded', 'true');
    const params = api.requests[0]!.url.searchParams;
    expect(params.get('status')).toBe('resolved');
    expect(params.get('since')).toBe('2026-11-19T21:00:00.000Z');
  });
});
