// Render through the real providers and routes: a fresh QueryClient with retries off, a memory
// router, the fetch stub, and a fake event stream that tests push events into.
import { QueryClient } from '@tanstack/react-query';
import { render } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { MemoryRouter, useLocation } from 'react-router';
import { AppRoutes } from '../app/AppRoutes';
import { Providers } from '../app/Providers';
import type { OpenStream, StreamHandlers } from '../features/live/stream';
import type { IncidentEvent } from '../shared/api/types';
import { session } from '../shared/lib/session';

export class FakeStream {
  handlers: StreamHandlers | null = null;
  opened = 0;
  closed = 0;
  token: string | null = null;

  open: OpenStream = (token, handlers) => {
    this.opened++;
    this.token = token;
    this.handlers = handlers;
    return () => {
      this.closed++;
    };
  };

  ready() {
    this.handlers!.onReady();
  }
  push(event: IncidentEvent) {
    this.handlers!.onIncident(event);
  }
  drop() {
    this.handlers!.onDisconnect(1000);
  }
  reset() {
    this.handlers!.onReset();
  }
}

export function testQueryClient() {
  return new QueryClient({ defaultOptions: { queries: { retry: false, staleTime: 60_000 }, mutations: { retry: false } } });
}

let location = '';
function LocationProbe() {
  const current = useLocation();
  location = current.pathname + current.search;
  return null;
}

export function renderApp(route = '/', options: { signedIn?: boolean; name?: string } = {}) {
  if (options.signedIn !== false) session.signIn('test-token', options.name ?? 'ana@example.com');
  const client = testQueryClient();
  const stream = new FakeStream();
  const user = userEvent.setup();
  const view = render(
    <Providers client={client} openStream={stream.open}>
      <MemoryRouter initialEntries={[route]}>
        <AppRoutes />
        <LocationProbe />
      </MemoryRouter>
    </Providers>,
  );
  return { ...view, client, stream, user, location: () => location };
}
