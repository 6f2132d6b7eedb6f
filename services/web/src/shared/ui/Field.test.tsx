import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { Field } from './Field';

describe('Field', () => {
  it('ties its label to the control, so the label names it and a click on it focuses it', async () => {
    const user = userEvent.setup();
    render(
      <>
        <Field label="Team">{(id) => <input id={id} />}</Field>
        <Field label="Service">{(id) => <input id={id} />}</Field>
      </>,
    );
    const team = screen.getByRole('textbox', { name: 'Team' });
    const service = screen.getByRole('textbox', { name: 'Service' });
    expect(team.id).not.toBe(service.id);
    await user.click(screen.getByText('Service'));
    expect(service).toHaveFocus();
  });

  it('shows a hint under the control', () => {
    render(
      <Field label="Your name" hint={<>Recorded as <em>who acted</em>.</>}>
        {(id) => <input id={id} />}
      </Field>,
    );
    const input = screen.getByLabelText('Your name');
    const hint = screen.getByText(/Recorded as/);
    expect(hint).toHaveTextContent('Recorded as who acted.');
    expect(input.compareDocumentPosition(hint) & Node.DOCUMENT_POSITION_FOLLOWING).toBeTruthy();
  });

  it('shows the API’s refusal of the field under it, and the control is invalid and described by it', () => {
    render(
      <Field label="Address" hint="a phone number" error="address must be a phone number in E.164 form">
        {(id, described) => <input id={id} {...described} />}
      </Field>,
    );
    const input = screen.getByRole('textbox', { name: 'Address' });
    expect(input).toBeInvalid();
    expect(input).toHaveAccessibleDescription('a phone number address must be a phone number in E.164 form');
  });

  it('is a form field by default and the filter bar’s small muted one when compact', () => {
    const { container } = render(
      <>
        <Field label="Form">{(id) => <input id={id} />}</Field>
        <Field label="Bar" compact>
          {(id) => <select id={id} />}
        </Field>
      </>,
    );
    expect(screen.getByText('Form')).toHaveClass('text-sm', 'font-medium');
    expect(screen.getByText('Form')).not.toHaveClass('text-muted');
    expect(screen.getByText('Bar')).toHaveClass('text-xs', 'text-muted');
    expect(screen.getByRole('combobox', { name: 'Bar' })).toBeInTheDocument();
    // No hint, no empty paragraph.
    expect(container.querySelectorAll('p')).toHaveLength(0);
  });
});
