import '@testing-library/jest-dom/vitest';
import { cleanup } from '@testing-library/react';
import { afterEach, beforeEach, expect, vi } from 'vitest';
import { connection } from '../shared/api/connection';
import { session } from '../shared/lib/session';

/** Every test runs at this instant (UTC, see vite.config.ts). */
export const NOW = Date.parse('2026-11-26T21:00:00.000Z');

let consoleError: ReturnType<typeof vi.spyOn>;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(NOW);
  localStorage.clear();
  session.reload();
  connection.set('connecting');
  consoleError = vi.spyOn(console, 'error');
  // jsdom does not scroll; the virtualised lists call it when the keyboard moves the selection.
  window.scrollTo = vi.fn() as unknown as typeof window.scrollTo;
});

afterEach(() => {
  cleanup();
  vi.useRealTimers();
  // Any console.error (a React warning, an unhandled render error) fails the test.
  expect(consoleError, 'console.error was called').not.toHaveBeenCalled();
});
