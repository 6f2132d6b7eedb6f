// The incident stream, `GET /events`: Server-Sent Events that need the bearer header, so it is
// read with fetch (EventSource cannot send headers). It reconnects by itself with capped backoff
// and sends Last-Event-ID, so the server can replay what was missed. A watchdog and the browser's
// offline/online events catch connections that die without an error.
import { EventStreamContentType, fetchEventSource } from '@microsoft/fetch-event-source';
import type { IncidentEvent } from '../../shared/api/types';

export interface StreamHandlers {
  /** `event: ready`: connected, and the server will send every change from now on. */
  onReady: () => void;
  onIncident: (event: IncidentEvent) => void;
  /** `event: reset`: the server could not replay what was missed; refetch everything. */
  onReset: () => void;
  /** The connection dropped; it will be retried after `retryInMs`. */
  onDisconnect: (retryInMs: number) => void;
  /** The token was refused: stop. */
  onUnauthorized: () => void;
}

/** Opens the stream; returns a function that closes it. Tests supply their own. */
export type OpenStream = (token: string | null, handlers: StreamHandlers) => () => void;

class Unauthorized extends Error {}
class Retry extends Error {}

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15_000;

export function backoff(attempt: number): number {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.max(0, attempt - 1));
  // Some jitter, so that a restarted server is not hit by every screen at the same instant.
  return Math.round(base * (0.75 + Math.random() * 0.5));
}

/** Without a byte for this long (the server sends a keep-alive every 15 s), the connection is dead. */
export const STALE_MS = 45_000;

export const openEventStream: OpenStream = (token, handlers) => {
  let stopped = false;
  let controller: AbortController | null = null;
  let lastEventId = '';
  let lastSeen = Date.now();
  let attempt = 0;
  let retryTimer: ReturnType<typeof setTimeout> | null = null;

  const touch = () => {
    lastSeen = Date.now();
  };

  const scheduleReconnect = () => {
    if (stopped) return;
    attempt++;
    const delay = backoff(attempt);
    handlers.onDisconnect(delay);
    if (retryTimer) clearTimeout(retryTimer);
    retryTimer = setTimeout(connect, delay);
  };

  /** End the current connection from this side, and try again later. */
  const drop = () => {
    controller?.abort();
    controller = null;
    scheduleReconnect();
  };

  function connect() {
    retryTimer = null;
    if (stopped) return;
    const current = new AbortController();
    controller = current;
    touch();
    // Without a token, the signed-in person's session cookie goes with the request.
    const headers: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {};
    // Lower case, as fetch-event-source itself writes it.
    if (lastEventId) headers['last-event-id'] = lastEventId;
    fetchEventSource('/events', {
      headers,
      signal: current.signal,
      // A wallboard tab may be hidden behind another window and must stay live.
      openWhenHidden: true,
      // Every chunk, keep-alive comments included, shows the connection is alive.
      fetch: async (input, init) => watchBody(await fetch(input, init), touch),
      async onopen(response) {
        if (response.status === 401) throw new Unauthorized();
        const type = response.headers.get('content-type') ?? '';
        if (!response.ok || !type.startsWith(EventStreamContentType)) throw new Retry(`GET /events answered ${response.status}`);
      },
      onmessage(message) {
        if (message.id) lastEventId = message.id;
        switch (message.event) {
          case 'ready':
            attempt = 0;
            handlers.onReady();
            break;
          case 'reset':
            handlers.onReset();
            break;
          case 'incident':
            try {
              handlers.onIncident(JSON.parse(message.data) as IncidentEvent);
            } catch {
              // A message we cannot read is skipped; the next refetch brings its incident anyway.
            }
            break;
        }
      },
      onclose() {
        // The server ended the stream (a restart): reconnect like after an error.
        throw new Retry('stream closed');
      },
      onerror(error) {
        // Retrying is ours (scheduleReconnect), so that every way a connection ends is handled alike.
        throw error;
      },
    }).catch((error: unknown) => {
      if (stopped || current.signal.aborted) return;
      controller = null;
      if (error instanceof Unauthorized) handlers.onUnauthorized();
      else scheduleReconnect();
    });
  }

  // A connection can die without an error (sleep, a NAT or proxy dropping it): the watchdog notices.
  const watchdog = setInterval(() => {
    if (controller && Date.now() - lastSeen > STALE_MS) drop();
  }, 5000);
  // The browser knows when the network is gone: say so at once, and come back as soon as it is.
  const onOffline = () => controller && drop();
  const onOnline = () => {
    if (controller) return;
    if (retryTimer) clearTimeout(retryTimer);
    attempt = 0;
    connect();
  };
  window.addEventListener('offline', onOffline);
  window.addEventListener('online', onOnline);

  connect();
  return () => {
    stopped = true;
    controller?.abort();
    if (retryTimer) clearTimeout(retryTimer);
    clearInterval(watchdog);
    window.removeEventListener('offline', onOffline);
    window.removeEventListener('online', onOnline);
  };
};

/** The same response, with `onChunk` called for every chunk of its body. */
function watchBody(response: Response, onChunk: () => void): Response {
  if (!response.body) return response;
  const body = response.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        onChunk();
        controller.enqueue(chunk);
      },
    }),
  );
  return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
}
