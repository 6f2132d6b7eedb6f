import { useCallback, useMemo } from 'react';
import { useSearchParams } from 'react-router';
import type { ListFilters } from '../../shared/api/filters';
import { decodeFilters, encodeFilters } from './codec';

/**
 * The page's filters, owned by the URL. Changing them replaces the history entry (a filter tweak
 * is not a navigation); defaults never appear in the URL.
 */
export function useFilters(defaults: ListFilters): [ListFilters, (patch: Partial<ListFilters>) => void] {
  const [params, setParams] = useSearchParams();
  const search = params.toString();
  // Decoded once per distinct query string, so the object is stable for query keys and memos.
  const filters = useMemo(() => decodeFilters(new URLSearchParams(search), defaults), [search, defaults]);
  const setFilters = useCallback(
    (patch: Partial<ListFilters>) => {
      setParams((current) => encodeFilters({ ...decodeFilters(current, defaults), ...patch }, defaults, current), {
        replace: true,
      });
    },
    [setParams, defaults],
  );
  return [filters, setFilters];
}
