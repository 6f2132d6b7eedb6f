// The one HTTP client of the dashboard: same-origin, bearer token from the session (or, for a
// person signed in with the identity provider, their session cookie and X-CSRF-Token on changes),
// and every non-2xx answer turned into an ApiError carrying the API's code and message.
import { session } from '../lib/session';

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  body?: unknown;
  signal?: AbortSignal;
  /** Use this token instead of the session's (the sign-in check). */
  token?: string;
}

export async function apiRequest<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const token = options.token ?? session.get().token;
  const person = session.get().person;
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  // Every change (POST, PUT, PATCH, DELETE) of a session carries the CSRF token: query refuses any unsafe method without it.
  else if (person && options.method && options.method !== 'GET') headers['X-CSRF-Token'] = person.csrfToken;
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';

  let response: Response;
  try {
    response = await fetch(path, {
      method: options.method ?? 'GET',
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal,
    });
  } catch (error) {
    if (error instanceof DOMException && error.name === 'AbortError') throw error;
    throw new ApiError(0, 'network', 'The tocsin API cannot be reached. Check your connection.');
  }

  if (!response.ok) {
    const error = await errorFrom(response);
    // A refused token ends the session, which brings the sign-in page back. The sign-in check
    // passes its own token and handles the answer itself.
    if (error.status === 401 && options.token === undefined) session.expire();
    throw error;
  }
  // 204 No Content (a removal) has no body to read.
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

export async function errorFrom(response: Response): Promise<ApiError> {
  let code = 'http_' + response.status;
  let message = `${response.status} ${response.statusText || 'error'}`.trim();
  try {
    const body = (await response.json()) as { error?: { code?: string; message?: string } };
    if (body.error?.code) code = body.error.code;
    if (body.error?.message) message = body.error.message;
  } catch {
    // Not the API's JSON error (a proxy page, an empty 404): keep the status line.
  }
  return new ApiError(response.status, code, message);
}
