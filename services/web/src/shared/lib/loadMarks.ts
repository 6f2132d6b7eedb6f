/**
 * The marks a list of incidents carries for what waits on it from outside: the end-to-end tests,
 * the screenshots and the render benchmarks (e2e/browser.ts `loadedList`). `data-loaded` is
 * "true" once the list shows the answer to its current filters, not a placeholder, and
 * `data-count` is how many incidents that answer holds.
 */
export type MarkedList = 'incident-board' | 'history' | 'wallboard';

export function loadMarks(list: MarkedList, loaded: boolean, count: number) {
  return { 'data-testid': list, 'data-loaded': loaded ? 'true' : 'false', 'data-count': count } as const;
}
