import { render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { ErrorMessage } from './ErrorMessage';
import { Notice } from './Notice';

describe('Notice', () => {
  it('is polite for information and success, and an alert for an error', () => {
    render(
      <>
        <Notice tone="info">Showing the newest 20,000 only.</Notice>
        <Notice tone="ok">Resolved “Disk full”.</Notice>
        <Notice tone="error" id="expired">
          The API refused your token (401).
        </Notice>
      </>,
    );
    const [info, ok] = screen.getAllByRole('status');
    expect(info).toHaveTextContent('Showing the newest 20,000 only.');
    expect(info).toHaveClass('border-line', 'bg-subtle');
    expect(ok).toHaveTextContent('Resolved “Disk full”.');
    expect(ok).toHaveClass('bg-ok-bg', 'text-ok');
    const error = screen.getByRole('alert');
    expect(error).toHaveTextContent('The API refused your token (401).');
    expect(error).toHaveClass('bg-danger-bg', 'text-danger');
    expect(error).toHaveAttribute('id', 'expired');
  });

  it('takes extra classes for its place on the page', () => {
    render(<Notice tone="ok" className="mb-2">Done.</Notice>);
    expect(screen.getByRole('status')).toHaveClass('mb-2', 'rounded-md', 'border');
  });

  it('is the box of ErrorMessage, with its title and the error’s text', () => {
    render(<ErrorMessage error={new Error('connection refused')} title="Could not load incidents" />);
    const alert = screen.getByRole('alert');
    expect(alert).toHaveTextContent('Could not load incidents: connection refused');
    expect(alert).toHaveClass('bg-danger-bg', 'flex');
  });
});
