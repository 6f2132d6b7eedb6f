import { useEffect } from 'react';

/** The product's name, as the pages and the browser tab say it. */
export const PRODUCT_NAME = 'tocsin';

/** The logo and the name: a red dot, then "tocsin". `large` is the wallboard's size. */
export function Brand({ large = false }: { large?: boolean }) {
  return (
    <span className={`flex items-center gap-2 font-bold tracking-tight ${large ? 'text-3xl' : ''}`}>
      <span aria-hidden="true" className={`rounded-full bg-sev-critical-bar ${large ? 'size-5' : 'size-3'}`} />
      {PRODUCT_NAME}
    </span>
  );
}

/** Names the browser tab after the page: `Incidents · tocsin`. */
export function useDocumentTitle(page: string) {
  useEffect(() => {
    document.title = `${page} · ${PRODUCT_NAME}`;
  }, [page]);
}
