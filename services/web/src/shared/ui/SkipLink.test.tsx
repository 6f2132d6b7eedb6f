import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { MemoryRouter, Route, Routes } from 'react-router';
import { describe, expect, it } from 'vitest';
import { SkipLink } from './SkipLink';

describe('SkipLink', () => {
  it('to a place on the page is a plain anchor, hidden until focused', () => {
    render(
      <MemoryRouter>
        <SkipLink to="#main">Skip to content</SkipLink>
      </MemoryRouter>,
    );
    const link = screen.getByRole('link', { name: 'Skip to content' });
    expect(link).toHaveAttribute('href', '#main');
    expect(link).toHaveClass('sr-only', 'focus:not-sr-only');
  });

  it('is the first stop of the keyboard', async () => {
    const user = userEvent.setup();
    render(
      <MemoryRouter>
        <SkipLink to="#main">Skip to content</SkipLink>
        <button type="button">Later</button>
      </MemoryRouter>,
    );
    await user.tab();
    expect(screen.getByRole('link', { name: 'Skip to content' })).toHaveFocus();
  });

  it('to a path navigates within the app', async () => {
    const user = userEvent.setup();
    render(
      <MemoryRouter initialEntries={['/wallboard']}>
        <Routes>
          <Route path="/wallboard" element={<SkipLink to="/">Leave the wallboard</SkipLink>} />
          <Route path="/" element={<h1>Dashboard</h1>} />
        </Routes>
      </MemoryRouter>,
    );
    const link = screen.getByRole('link', { name: 'Leave the wallboard' });
    expect(link).toHaveAttribute('href', '/');
    expect(link).toHaveClass('sr-only', 'focus:not-sr-only');
    await user.click(link);
    expect(screen.getByRole('heading', { name: 'Dashboard' })).toBeInTheDocument();
  });
});
