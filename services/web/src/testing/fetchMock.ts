// A fetch stub at the network boundary: tests declare the API answers they expect, every request
// is recorded, and a request nobody declared fails the test loudly.
import { vi } from 'vitest';

export interface Recorded {
  method: string;
  url: URL;
  headers: Headers;
  body: unknown;
}

type Reply = { status?: number; body?: unknown } | ((request: Recorded) => { status?: number; body?: unknown });

interface Route {
  method: string;
  path: string | RegExp;
  reply: Reply;
}

export function mockApi() {
  const routes: Route[] = [];
  const requests: Recorded[] = [];

  const fetchStub = vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url, 'http://localhost');
    const method = (init.method ?? 'GET').toUpperCase();
    const body = typeof init.body === 'string' ? (JSON.parse(init.body) as unknown) : undefined;
    const request: Recorded = { method, url, headers: new Headers(init.headers), body };
    requests.push(request);
    // Last declared wins, so a test can change an answer half way.
    const route = [...routes]
      .reverse()
      .find((r) => r.method === method && (typeof r.path === 'string' ? r.path === url.pathname : r.path.test(url.pathname)));
    if (!route) throw new Error(`unexpected request ${method} ${url.pathname}${url.search}`);
    const reply = typeof route.reply === 'function' ? route.reply(request) : route.reply;
    return new Response(reply.body === undefined ? null : JSON.stringify(reply.body), {
      status: reply.status ?? 200,
      headers: { 'Content-Type': 'application/json' },
    });
  });
  vi.stubGlobal('fetch', fetchStub);

  const api = {
    requests,
    on(method: string, path: string | RegExp, reply: Reply) {
      routes.push({ method, path, reply });
      return api;
    },
    get: (path: string | RegExp, reply: Reply) => api.on('GET', path, reply),
    post: (path: string | RegExp, reply: Reply) => api.on('POST', path, reply),
    put: (path: string | RegExp, reply: Reply) => api.on('PUT', path, reply),
    patch: (path: string | RegExp, reply: Reply) => api.on('PATCH', path, reply),
    delete: (path: string | RegExp, reply: Reply) => api.on('DELETE', path, reply),
  };
  return api;
}

export function apiError(status: number, code: string, message: string) {
  return { status, body: { error: { code, message } } };
}
