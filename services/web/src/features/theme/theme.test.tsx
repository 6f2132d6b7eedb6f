import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ThemeToggle } from './ThemeToggle';
import { getThemeChoice } from './theme';

function systemPrefersDark(dark: boolean) {
  vi.stubGlobal('matchMedia', (query: string) => ({
    matches: dark && query.includes('dark'),
    media: query,
    addEventListener: () => {},
    removeEventListener: () => {},
  }));
}

afterEach(() => {
  document.documentElement.classList.remove('dark');
});

describe('theme', () => {
  it('follows the system by default', () => {
    systemPrefersDark(true);
    render(<ThemeToggle />);
    expect(screen.getByRole('button', { name: 'System' })).toHaveAttribute('aria-pressed', 'true');
    expect(getThemeChoice()).toBe('system');
  });

  it('remembers an explicit choice and applies it to <html>', async () => {
    systemPrefersDark(false);
    const user = userEvent.setup();
    const { unmount } = render(<ThemeToggle />);
    await user.click(screen.getByRole('button', { name: 'Dark' }));
    expect(localStorage.getItem('tocsin.theme')).toBe('dark');
    expect(document.documentElement).toHaveClass('dark');
    expect(document.documentElement.style.colorScheme).toBe('dark');
    unmount();

    // A reload reads the saved choice.
    render(<ThemeToggle />);
    expect(screen.getByRole('button', { name: 'Dark' })).toHaveAttribute('aria-pressed', 'true');

    await user.click(screen.getByRole('button', { name: 'Light' }));
    expect(localStorage.getItem('tocsin.theme')).toBe('light');
    expect(document.documentElement).not.toHaveClass('dark');
  });

  it('going back to system forgets the choice and follows the system again', async () => {
    systemPrefersDark(true);
    localStorage.setItem('tocsin.theme', 'light');
    const user = userEvent.setup();
    render(<ThemeToggle />);
    await user.click(screen.getByRole('button', { name: 'System' }));
    expect(localStorage.getItem('tocsin.theme')).toBeNull();
    expect(document.documentElement).toHaveClass('dark');
  });

  it('index.html loads public/theme.js, which sets the theme before the app runs', async () => {
    const { readFileSync } = await import('node:fs');
    const html = readFileSync(`${process.cwd()}/index.html`, 'utf8');
    // A classic script in <head>, before the app's module: it runs before the body is painted.
    expect(html.indexOf('<script src="/theme.js"></script>')).toBeGreaterThan(-1);
    expect(html.indexOf('<script src="/theme.js"></script>')).toBeLessThan(html.indexOf('</head>'));
    expect(html).not.toMatch(/<script>/);
    const script = readFileSync(`${process.cwd()}/public/theme.js`, 'utf8');
    systemPrefersDark(false);
    localStorage.setItem('tocsin.theme', 'dark');
    new Function(script)();
    expect(document.documentElement).toHaveClass('dark');
    localStorage.removeItem('tocsin.theme');
    new Function(script)();
    expect(document.documentElement).not.toHaveClass('dark');
  });
});
