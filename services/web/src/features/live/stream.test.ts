import { describe, expect, it, vi } from 'vitest';
import { makeEvent, makeIncident } from '../../testing/fixtures';
import { backoff, openEventStream, type StreamHandlers } from './stream';

function sse(text: string, status = 200) {
  return new Response(text, { status, headers: { 'Content-Type': status === 200 ? 'text/event-stream' : 'application/json' } });
}

function handlers(): StreamHandlers & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    onReady: vi.fn(() => void calls.push('ready')),
    onIncident: vi.fn((event) => void calls.push(`incident ${event.incident.version}`)),
    onReset: vi.fn(() => void calls.push('reset')),
    onDisconnect: vi.fn(() => void calls.push('disconnect')),
    onUnauthorized: vi.fn(() => void calls.push('unauthorized')),
  };
}

describe('the event stream', () => {
  it('sends the token, reads ready, incident and reset, reconnects with Last-Event-ID, and stops on 401', async () => {
    const event = makeEvent(makeIncident({ version: 7 }));
    const requests: Headers[] = [];
    const answers = [
      () => sse(`: keep-alive\n\nevent: ready\ndata: {}\n\nid: 1764201234567-0\nevent: incident\ndata: ${JSON.stringify(event)}\n\n`),
      () => sse('event: ready\ndata: {}\n\nevent: reset\ndata: {}\n\n'),
      () => sse('{"error":{"code":"unauthorized","message":"no"}}', 401),
    ];
    vi.stubGlobal(
      'fetch',
      vi.fn(async (_url: string, init: RequestInit) => {
        requests.push(new Headers(init.headers));
        return answers[requests.length - 1]!();
      }),
    );
    const h = handlers();
    const close = openEventStream('secret', h);
    await vi.waitFor(() => expect(h.onUnauthorized).toHaveBeenCalled(), { timeout: 5000 });
    close();

    expect(h.calls).toEqual(['ready', 'incident 7', 'disconnect', 'ready', 'reset', 'disconnect', 'unauthorized']);
    expect(requests[0]!.get('Authorization')).toBe('Bearer secret');
    expect(requests[0]!.get('last-event-id')).toBeNull();
    expect(requests[1]!.get('last-event-id')).toBe('1764201234567-0');
    expect(requests).toHaveLength(3);
  });

  it('backs off exponentially, capped at 15 s, with jitter', () => {
    for (const [attempt, base] of [
      [1, 500],
      [2, 1000],
      [5, 8000],
      [9, 15_000],
    ] as const) {
      const delay = backoff(attempt);
      expect(delay).toBeGreaterThanOrEqual(base * 0.75);
      expect(delay).toBeLessThanOrEqual(base * 1.25);
    }
  });
});

describe('connections that die quietly', () => {
  it('drops the stream when the browser goes offline and reconnects as soon as it is back', async () => {
    const requests: Headers[] = [];
    vi.stubGlobal(
      'fetch',
      vi.fn(async (_url: string, init: RequestInit) => {
        requests.push(new Headers(init.headers));
        // A stream that stays open.
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(new TextEncoder().encode('id: 5-0\nevent: ready\ndata: {}\n\n'));
          },
        });
        return new Response(body, { headers: { 'Content-Type': 'text/event-stream' } });
      }),
    );
    const h = handlers();
    const close = openEventStream('secret', h);
    await vi.waitFor(() => expect(h.calls).toEqual(['ready']));

    window.dispatchEvent(new Event('offline'));
    expect(h.calls).toEqual(['ready', 'disconnect']);
    window.dispatchEvent(new Event('online'));
    await vi.waitFor(() => expect(h.calls).toEqual(['ready', 'disconnect', 'ready']));
    expect(requests).toHaveLength(2);
    expect(requests[1]!.get('last-event-id')).toBe('5-0');
    close();
  });
});
