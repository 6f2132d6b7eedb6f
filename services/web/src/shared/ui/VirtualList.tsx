import { useWindowVirtualizer } from '@tanstack/react-virtual';
import { useImperativeHandle, useLayoutEffect, useRef, useState, type HTMLAttributes, type Key, type ReactNode, type Ref } from 'react';

/** What a list's owner may do with it: bring a row into view, and find rendered rows. */
export interface VirtualListHandle {
  /** Scrolls the window just enough for row `index` to be on screen, which renders it. */
  scrollToIndex(index: number): void;
  /** The list element (rows on screen are inside it), or null before mount. */
  element(): HTMLElement | null;
}

interface Props<Row> extends Omit<HTMLAttributes<HTMLElement>, 'children' | 'style'> {
  rows: readonly Row[];
  /** A row's height in pixels; each row is drawn at exactly that height. */
  rowHeight: (row: Row) => number;
  /** A key that stays with the row when rows before it come and go. */
  rowKey: (row: Row) => Key;
  renderRow: (row: Row) => ReactNode;
  /** `ol` for an ordered list of `li` (give it an aria-label), `div` for plain boxes. */
  as?: 'div' | 'ol';
  ref?: Ref<VirtualListHandle>;
}

/** Rows drawn past each edge of the window, so that a fast scroll shows no gap. */
const OVERSCAN = 12;

/**
 * A list that scrolls with the page (the window's scroll bar, no inner one) and keeps in the DOM
 * only the rows on screen plus a margin, so thousands of rows render at once. The list is as tall
 * as all its rows; rows are absolutely placed inside it. Other attributes (aria-label, data-*,
 * className) go to the list element.
 */
export function VirtualList<Row>({ rows, rowHeight, rowKey, renderRow, as = 'div', ref, className = '', ...attributes }: Props<Row>) {
  const listRef = useRef<HTMLDivElement & HTMLOListElement>(null);
  const [scrollMargin, setScrollMargin] = useState(0);
  // Where the list starts on the page. What is above it (filters, notices) can change height, so
  // it is measured after every render and set only when it moved.
  // eslint-disable-next-line react-hooks/exhaustive-deps
  useLayoutEffect(() => {
    const top = (listRef.current?.getBoundingClientRect().top ?? 0) + window.scrollY;
    if (Math.abs(top - scrollMargin) > 0.5) setScrollMargin(top);
  });

  const virtualizer = useWindowVirtualizer({
    count: rows.length,
    estimateSize: (index) => rowHeight(rows[index]!),
    getItemKey: (index) => rowKey(rows[index]!),
    overscan: OVERSCAN,
    scrollMargin,
  });

  useImperativeHandle(
    ref,
    () => ({
      scrollToIndex: (index) => virtualizer.scrollToIndex(index, { align: 'auto' }),
      element: () => listRef.current,
    }),
    [virtualizer],
  );

  const List = as;
  const Item = as === 'ol' ? 'li' : 'div';
  return (
    <List
      {...attributes}
      ref={listRef}
      className={`relative overflow-hidden ${className}`}
      style={{ height: virtualizer.getTotalSize() }}
    >
      {virtualizer.getVirtualItems().map((item) => (
        <Item
          key={item.key}
          className="absolute inset-x-0 top-0"
          style={{ height: item.size, transform: `translateY(${item.start - virtualizer.options.scrollMargin}px)` }}
        >
          {renderRow(rows[item.index]!)}
        </Item>
      ))}
    </List>
  );
}
