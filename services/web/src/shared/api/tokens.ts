// A person's own API tokens (docs/sign-in.md, "Personal API tokens"): listed without their
// secrets, made from the signed-in session (the secret is in that one answer), revoked.
import { queryOptions, useMutation, useQueryClient } from '@tanstack/react-query';
import { apiRequest } from './client';
import type { MadeToken, TokenList } from './types';

export const tokenKeys = {
  mine: ['tokens', 'me'] as const,
};

export function myTokensOptions() {
  return queryOptions({
    queryKey: tokenKeys.mine,
    queryFn: ({ signal }) => apiRequest<TokenList>('/users/me/tokens', { signal }),
  });
}

export interface TokenRequest {
  name: string;
  scopes: string[];
  expires_in_days: number;
}

export function useMakeToken() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (request: TokenRequest) => apiRequest<MadeToken>('/users/me/tokens', { method: 'POST', body: request }),
    onSuccess: () => client.invalidateQueries({ queryKey: tokenKeys.mine }),
  });
}

export function useRevokeToken() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => apiRequest<void>(`/users/me/tokens/${encodeURIComponent(id)}`, { method: 'DELETE' }),
    onSuccess: () => client.invalidateQueries({ queryKey: tokenKeys.mine }),
  });
}
