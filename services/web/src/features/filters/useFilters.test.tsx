import { act, renderHook } from '@testing-library/react';
import type { ReactNode } from 'react';
import { MemoryRouter, useLocation, useNavigationType } from 'react-router';
import { describe, expect, it } from 'vitest';
import { NO_FILTERS, type ListFilters } from '../../shared/api/filters';
import { useFilters } from './useFilters';

const DEFAULTS: ListFilters = { ...NO_FILTERS, status: ['open', 'acknowledged'] };

function setup(url: string) {
  const wrapper = ({ children }: { children: ReactNode }) => <MemoryRouter initialEntries={[url]}>{children}</MemoryRouter>;
  return renderHook(
    () => {
      const [filters, setFilters] = useFilters(DEFAULTS);
      return { filters, setFilters, location: useLocation(), navigation: useNavigationType() };
    },
    { wrapper },
  );
}

describe('useFilters', () => {
  it('reads the filters from the URL', () => {
    const { result } = setup('/?severity=critical&team=platform');
    expect(result.current.filters).toEqual({ ...DEFAULTS, severity: ['critical'], team: ['platform'] });
  });

  it('writes changes to the URL, replacing the history entry', () => {
    const { result } = setup('/?team=platform');
    act(() => result.current.setFilters({ severity: ['high', 'critical'] }));
    expect(result.current.location.search).toBe('?severity=critical&severity=high&team=platform');
    expect(result.current.navigation).toBe('REPLACE');
    expect(result.current.filters.severity).toEqual(['critical', 'high']);
  });

  it('takes defaults back out of the URL', () => {
    const { result } = setup('/?status=any');
    act(() => result.current.setFilters({ status: ['open', 'acknowledged'] }));
    expect(result.current.location.search).toBe('');
  });

  it('keeps the same object while the URL does not change', () => {
    const { result, rerender } = setup('/?team=platform');
    const first = result.current.filters;
    rerender();
    expect(result.current.filters).toBe(first);
  });
});
