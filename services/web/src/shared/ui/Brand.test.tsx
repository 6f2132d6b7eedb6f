import { render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { mockApi } from '../../testing/fetchMock';
import { lastPage } from '../../testing/fixtures';
import { renderApp } from '../../testing/render';
import { Brand, useDocumentTitle } from './Brand';

function Titled({ page }: { page: string }) {
  useDocumentTitle(page);
  return null;
}

describe('Brand', () => {
  it('shows the name, with the dot hidden from screen readers', () => {
    const { container } = render(<Brand />);
    const brand = container.firstElementChild as HTMLElement;
    expect(brand).toHaveTextContent(/^tocsin$/);
    expect(brand).toHaveClass('font-bold');
    expect(brand).not.toHaveClass('text-3xl');
    const dot = brand.querySelector('[aria-hidden="true"]')!;
    expect(dot).toHaveClass('size-3', 'rounded-full', 'bg-sev-critical-bar');
  });

  it('comes in the wallboard size', () => {
    const { container } = render(<Brand large />);
    const brand = container.firstElementChild as HTMLElement;
    expect(brand).toHaveTextContent(/^tocsin$/);
    expect(brand).toHaveClass('text-3xl');
    expect(brand.querySelector('[aria-hidden="true"]')).toHaveClass('size-5');
  });

  it('is the same in the header of the app and of the sign-in page', async () => {
    mockApi().get('/incidents', lastPage([]));
    const app = renderApp('/');
    await screen.findByRole('heading', { level: 1, name: 'Incidents' });
    const inHeader = screen.getByRole('banner').firstElementChild!.firstElementChild!.outerHTML;
    app.unmount();
    renderApp('/signin', { signedIn: false });
    await screen.findByRole('heading', { level: 1, name: 'Sign in' });
    expect(screen.getByRole('banner').firstElementChild!.outerHTML).toBe(inHeader);
    expect(render(<Brand />).container.innerHTML).toBe(inHeader);
  });
});

describe('useDocumentTitle', () => {
  it('names the tab after the page, then the product, and follows changes', () => {
    const { rerender } = render(<Titled page="History" />);
    expect(document.title).toBe('History · tocsin');
    rerender(<Titled page="(3) Incidents" />);
    expect(document.title).toBe('(3) Incidents · tocsin');
  });

  it('is what the pages call', async () => {
    mockApi().get('/incidents', lastPage([]));
    renderApp('/history');
    await screen.findByRole('heading', { level: 1, name: 'History' });
    expect(document.title).toBe('History · tocsin');
  });
});
