import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { NO_FILTERS, type ListFilters } from '../../shared/api/filters';
import { FilterBar } from './FilterBar';

describe('filter bar time range', () => {
  it('offers any time, every preset of the table in order, and a custom range', () => {
    render(<FilterBar filters={NO_FILTERS} defaults={NO_FILTERS} onChange={() => {}} />);
    const options = within(screen.getByLabelText('Opened')).getAllByRole('option');
    expect(options.map((o) => [(o as HTMLOptionElement).value, o.textContent])).toEqual([
      ['all', 'Any time'],
      ['1h', 'Last hour'],
      ['6h', 'Last 6 hours'],
      ['24h', 'Last 24 hours'],
      ['7d', 'Last 7 days'],
      ['30d', 'Last 30 days'],
      ['90d', 'Last 90 days'],
      ['custom', 'Custom range'],
    ]);
  });

  it('reports the chosen preset and says it in the summary', async () => {
    const user = userEvent.setup();
    const onChange = vi.fn();
    const filters: ListFilters = { ...NO_FILTERS, range: '30d' };
    render(<FilterBar filters={filters} defaults={NO_FILTERS} onChange={onChange} />);
    expect(screen.getByLabelText('Opened')).toHaveValue('30d');
    expect(screen.getByTestId('filter-summary')).toHaveTextContent('All incidents opened in the last 30 days.');
    await user.selectOptions(screen.getByLabelText('Opened'), 'Last 6 hours');
    expect(onChange).toHaveBeenCalledWith({ range: '6h' });
  });
});

describe('filter bar, my teams', () => {
  it('narrows to the signed-in person\'s teams and back, and is not offered without any', async () => {
    const user = userEvent.setup();
    const onChange = vi.fn();
    const { rerender } = render(<FilterBar filters={NO_FILTERS} defaults={NO_FILTERS} onChange={onChange} myTeams={['payments', 'web']} />);
    const chip = screen.getByRole('button', { name: 'My teams' });
    expect(chip).toHaveAttribute('aria-pressed', 'false');
    await user.click(chip);
    expect(onChange).toHaveBeenLastCalledWith({ team: ['payments', 'web'] });

    rerender(<FilterBar filters={{ ...NO_FILTERS, team: ['web', 'payments'] }} defaults={NO_FILTERS} onChange={onChange} myTeams={['payments', 'web']} />);
    expect(screen.getByRole('button', { name: /My teams/ })).toHaveAttribute('aria-pressed', 'true');
    await user.click(screen.getByRole('button', { name: /My teams/ }));
    expect(onChange).toHaveBeenLastCalledWith({ team: [] });

    rerender(<FilterBar filters={{ ...NO_FILTERS, team: ['payments'] }} defaults={NO_FILTERS} onChange={onChange} myTeams={['payments', 'web']} />);
    expect(screen.getByRole('button', { name: /My teams/ })).toHaveAttribute('aria-pressed', 'false');

    rerender(<FilterBar filters={NO_FILTERS} defaults={NO_FILTERS} onChange={onChange} />);
    expect(screen.queryByRole('button', { name: /My teams/ })).not.toBeInTheDocument();
  });
});
