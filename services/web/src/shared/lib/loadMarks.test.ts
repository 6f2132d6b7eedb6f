import { describe, expect, it } from 'vitest';
import { loadMarks } from './loadMarks';

describe('loadMarks', () => {
  it('names the list and says whether it holds its answer, and how many incidents', () => {
    expect(loadMarks('history', true, 42)).toEqual({ 'data-testid': 'history', 'data-loaded': 'true', 'data-count': 42 });
    expect(loadMarks('incident-board', false, 0)).toEqual({ 'data-testid': 'incident-board', 'data-loaded': 'false', 'data-count': 0 });
  });
});
