import { QueryClient } from '@tanstack/react-query';
import { ApiError } from '../shared/api/client';

/** Answers that retrying cannot change. */
function isFinal(error: unknown) {
  return error instanceof ApiError && [400, 401, 403, 404, 409, 413, 415].includes(error.status);
}

export function createQueryClient() {
  return new QueryClient({
    defaultOptions: {
      queries: {
        // Events keep the cache fresh while the stream is live; polling takes over when it is not.
        staleTime: 60_000,
        retry: (count, error) => !isFinal(error) && count < 3,
      },
      mutations: { retry: false },
    },
  });
}
