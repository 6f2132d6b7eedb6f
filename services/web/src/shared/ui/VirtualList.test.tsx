import { act, render, screen, within } from '@testing-library/react';
import { createRef, type Ref } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { VirtualList, type VirtualListHandle } from './VirtualList';

// jsdom's window is 1024 x 768 and starts scrolled to the top; the list draws 12 rows past each edge.
type Row = { id: number; tall: boolean };
const rows: Row[] = Array.from({ length: 1000 }, (_, id) => ({ id, tall: id % 10 === 0 }));
const height = (row: Row) => (row.tall ? 60 : 30);
/** Where row `index` starts in the list: nine 30 px rows and one 60 px row per ten. */
const offsetOf = (index: number) => Math.floor(index / 10) * 330 + (index % 10 === 0 ? 0 : 60 + ((index % 10) - 1) * 30);

function renderList(props: { as?: 'div' | 'ol'; ref?: Ref<VirtualListHandle> } = {}) {
  return render(
    <VirtualList
      as={props.as}
      ref={props.ref}
      rows={rows}
      rowHeight={height}
      rowKey={(row) => row.id}
      renderRow={(row) => <span>row {row.id}</span>}
      aria-label="Numbers"
      data-testid="numbers"
      className="border"
    />,
  );
}

function shown(list: HTMLElement): number[] {
  return [...list.children].map((child) => Number(child.textContent!.replace('row ', '')));
}

/** The list stands `top` px below the page's top, and moves up as the window scrolls. */
function placeListAt(top: number) {
  vi.spyOn(HTMLElement.prototype, 'getBoundingClientRect').mockImplementation(() => new DOMRect(0, top - window.scrollY, 1024, 0));
}

function scrollWindowTo(y: number) {
  Object.defineProperty(window, 'scrollY', { value: y, configurable: true });
  act(() => {
    window.dispatchEvent(new Event('scroll'));
  });
}

afterEach(() => {
  Object.defineProperty(window, 'scrollY', { value: 0, configurable: true });
  delete (document.documentElement as { scrollHeight?: number }).scrollHeight;
});

describe('VirtualList', () => {
  it('is as tall as all its rows and renders only the rows in the window plus a margin', () => {
    renderList();
    const list = screen.getByTestId('numbers');
    expect(list.tagName).toBe('DIV');
    expect(list).toHaveAttribute('aria-label', 'Numbers');
    expect(list).toHaveClass('relative', 'overflow-hidden', 'border');
    expect(list.style.height).toBe(`${100 * 330}px`);
    // 768 px hold rows 0 to 22 (row 22 starts at 750); 12 more are drawn below.
    expect(shown(list)).toEqual(Array.from({ length: 35 }, (_, i) => i));
  });

  it('places each row at its offset, with its own height', () => {
    renderList();
    const list = screen.getByTestId('numbers');
    const row = (index: number) => within(list).getByText(`row ${index}`).parentElement!;
    expect(row(0).style.height).toBe('60px');
    expect(row(0).style.transform).toBe('translateY(0px)');
    expect(row(1).style.height).toBe('30px');
    expect(row(1).style.transform).toBe('translateY(60px)');
    expect(row(10).style.height).toBe('60px');
    expect(row(10).style.transform).toBe(`translateY(${offsetOf(10)}px)`);
    expect(row(23).style.transform).toBe(`translateY(${offsetOf(23)}px)`);
  });

  it('follows the window scroll: rows above leave the DOM and rows below arrive', () => {
    placeListAt(0);
    renderList();
    const list = screen.getByTestId('numbers');
    scrollWindowTo(offsetOf(500));
    const now = shown(list);
    expect(now[0]).toBe(500 - 12);
    expect(now).toContain(500);
    expect(now).not.toContain(0);
    expect(now.length).toBeLessThan(60);
  });

  it('as an ordered list, draws each row as a list item', () => {
    renderList({ as: 'ol' });
    const list = screen.getByRole('list', { name: 'Numbers' });
    expect(list.tagName).toBe('OL');
    const items = within(list).getAllByRole('listitem');
    expect(items[0]).toHaveTextContent('row 0');
    expect(items).toHaveLength(35);
  });

  it('keeps a row element with its key when rows before it are removed', () => {
    const { rerender } = renderList();
    const before = within(screen.getByTestId('numbers')).getByText('row 5');
    rerender(
      <VirtualList
        rows={rows.slice(3)}
        rowHeight={height}
        rowKey={(row) => row.id}
        renderRow={(row) => <span>row {row.id}</span>}
        data-testid="numbers"
      />,
    );
    const list = screen.getByTestId('numbers');
    expect(shown(list)[0]).toBe(3);
    const after = within(list).getByText('row 5');
    expect(after).toBe(before);
    // Rows 3 and 4 (30 px each) are now the first two.
    expect(after.parentElement!.style.transform).toBe('translateY(60px)');
  });

  it('measures where it starts on the page, so rows are drawn from its own top', () => {
    placeListAt(500);
    renderList();
    const list = screen.getByTestId('numbers');
    // The list's first 268 px (rows 0 to 7) are in the window, and 12 more rows are drawn.
    expect(shown(list)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(within(list).getByText('row 1').parentElement!.style.transform).toBe('translateY(60px)');
    // Scrolled 1,000 px, the window shows the list from its 500th pixel: from row 14 (480 to 510) on.
    scrollWindowTo(1000);
    expect(shown(list)[0]).toBe(14 - 12);
    expect(within(list).getByText('row 15').parentElement!.style.transform).toBe(`translateY(${offsetOf(15)}px)`);
  });

  it('scrolls the window just enough to bring a row on screen', () => {
    placeListAt(200);
    // The page is as tall as what is above the list and the list (jsdom lays nothing out).
    Object.defineProperty(document.documentElement, 'scrollHeight', { value: 200 + 100 * 330, configurable: true });
    const handle = createRef<VirtualListHandle>();
    renderList({ ref: handle });
    expect(handle.current!.element()).toBe(screen.getByTestId('numbers'));

    // Row 3 is on screen already: the window stays where it is.
    act(() => handle.current!.scrollToIndex(3));
    expect(window.scrollTo).toHaveBeenLastCalledWith(expect.objectContaining({ top: 0 }));

    act(() => handle.current!.scrollToIndex(400));
    // Row 400's bottom (the list's top + its end) meets the window's bottom.
    const bottom = 200 + offsetOf(400) + 60;
    expect(window.scrollTo).toHaveBeenLastCalledWith(expect.objectContaining({ top: bottom - 768 }));
    scrollWindowTo(bottom - 768);
    const row = within(screen.getByTestId('numbers')).getByText('row 400');
    expect(row.parentElement!.style.transform).toBe(`translateY(${offsetOf(400)}px)`);
  });
});
