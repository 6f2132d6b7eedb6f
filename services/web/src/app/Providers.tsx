import { QueryClientProvider, type QueryClient } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { StreamContext } from '../features/live/useLiveUpdates';
import { openEventStream, type OpenStream } from '../features/live/stream';

export function Providers({
  client,
  openStream = openEventStream,
  children,
}: {
  client: QueryClient;
  openStream?: OpenStream;
  children: ReactNode;
}) {
  return (
    <QueryClientProvider client={client}>
      <StreamContext.Provider value={openStream}>{children}</StreamContext.Provider>
    </QueryClientProvider>
  );
}
