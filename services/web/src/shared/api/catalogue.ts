// The service catalogue: which team owns each service (docs/api.md, "The service catalogue").
// Everyone with a token reads it; changing it takes a token with the admin scope, and the API's
// 403 says so.
import { queryOptions, useMutation, useQueryClient } from '@tanstack/react-query';
import { apiRequest } from './client';
import type { Catalogue, ImportSummary } from './types';

export const catalogueKeys = {
  all: ['catalogue'] as const,
};

export function catalogueOptions() {
  return queryOptions({
    queryKey: catalogueKeys.all,
    queryFn: ({ signal }) => apiRequest<Catalogue>('/services', { signal }),
  });
}

const servicePath = (service: string) => `/services/${encodeURIComponent(service)}`;

export function useSetOwner() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ service, team }: { service: string; team: string }) =>
      apiRequest<ImportSummary>(servicePath(service), { method: 'PUT', body: { team } }),
    onSuccess: () => client.invalidateQueries({ queryKey: catalogueKeys.all }),
  });
}

export function useRemoveService() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (service: string) => apiRequest<void>(servicePath(service), { method: 'DELETE' }),
    onSuccess: () => client.invalidateQueries({ queryKey: catalogueKeys.all }),
  });
}
