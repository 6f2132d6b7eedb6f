import { screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { ContactMethod, NotificationRule } from '../../shared/api/types';
import { apiError, mockApi } from '../../testing/fetchMock';
import { renderApp } from '../../testing/render';

const alice = {
  provider: true,
  user: { id: '0191e1a0-0000-7000-8000-000000000001', name: 'Alice Liddell', email: 'alice@example.com', is_admin: false },
  teams: [{ slug: 'payments', name: 'Payments', role: 'responder' }],
  default_role: 'viewer',
  csrf_token: 'csrf-of-the-session',
  expires_at: '2026-12-08T09:00:00Z',
};

function method(id: string, kind: string, address: string, label = ''): ContactMethod {
  return { id: `0191e1a0-0000-7000-8000-${id.padStart(12, '0')}`, kind, address, label, created_at: '2026-12-01T09:00:00Z', disabled: false };
}

function rule(id: string, methodId: string, urgency: string, delay: number): NotificationRule {
  return { id: `0191e1a0-0000-7000-8000-${id.padStart(12, '0')}`, contact_method_id: methodId, urgency, delay_minutes: delay, created_at: '2026-12-01T09:00:00Z' };
}

describe('profile page', () => {
  it('lists, adds, tests and removes contact methods, and adds and removes rules', async () => {
    const phone = method('1', 'sms', '+14155550123', 'work phone');
    let methods = [phone];
    let rules = [rule('11', phone.id, 'high', 5)];
    const api = mockApi()
      .get('/auth/status', { body: alice })
      .get('/users/me/contact-methods', () => ({ body: { items: methods } }))
      .get('/users/me/notification-rules', () => ({ body: { items: rules } }))
      .post('/users/me/contact-methods', (request) => {
        const body = request.body as { kind: string; address: string; label: string };
        const made = method('2', body.kind, body.address, body.label);
        methods = [...methods, made];
        return { status: 201, body: made };
      })
      .post(/\/users\/me\/contact-methods\/.+\/test$/, () => ({ status: 202, body: { delivery_id: 7, contact_method: phone } }))
      .delete(/^\/users\/me\/contact-methods\//, () => {
        methods = methods.filter((held) => held.id !== phone.id);
        rules = rules.filter((held) => held.contact_method_id !== phone.id);
        return { status: 204 };
      })
      .post('/users/me/notification-rules', (request) => {
        const body = request.body as { contact_method_id: string; urgency: string; delay_minutes: number };
        rules = [...rules, rule('12', body.contact_method_id, body.urgency, body.delay_minutes)];
        return { status: 201, body: rules.at(-1) };
      })
      .delete(/^\/users\/me\/notification-rules\//, (request) => {
        rules = rules.filter((held) => !request.url.pathname.endsWith(held.id));
        return { status: 204 };
      });
    const { user } = renderApp('/profile', { signedIn: false });
    expect(await screen.findByRole('heading', { level: 1, name: 'Profile' })).toBeInTheDocument();
    const methodList = within(await screen.findByRole('region', { name: 'Contact methods' }));
    expect(methodList.getByText('work phone')).toBeInTheDocument();
    expect(methodList.getByText('SMS · +14155550123')).toBeInTheDocument();
    const ruleList = within(screen.getByRole('region', { name: 'Notification rules' }));
    expect(ruleList.getByText('after 5 minutes of a high-urgency page')).toBeInTheDocument();

    await user.click(methodList.getByRole('button', { name: 'Send a test page to work phone' }));
    expect(await screen.findByText(/Test page to work phone sent/)).toBeInTheDocument();

    const addMethod = within(screen.getByRole('form', { name: 'Add a contact method' }));
    await user.selectOptions(addMethod.getByRole('combobox', { name: 'Kind' }), 'slack');
    expect(addMethod.getByText(/Slack member id/)).toBeInTheDocument();
    await user.type(addMethod.getByRole('textbox', { name: 'Address' }), ' U0123ABCD ');
    await user.click(addMethod.getByRole('button', { name: 'Add method' }));
    expect(await methodList.findByText('Slack direct message · U0123ABCD')).toBeInTheDocument();
    const added = api.requests.find((request) => request.method === 'POST' && request.url.pathname === '/users/me/contact-methods')!;
    expect(added.body).toEqual({ kind: 'slack', address: 'U0123ABCD', label: '' });
    expect(added.headers.get('X-CSRF-Token')).toBe('csrf-of-the-session');

    const addRule = within(screen.getByRole('form', { name: 'Add a notification rule' }));
    await user.selectOptions(addRule.getByRole('combobox', { name: 'Method' }), 'Slack direct message U0123ABCD');
    await user.selectOptions(addRule.getByRole('combobox', { name: 'Urgency' }), 'low');
    await user.clear(addRule.getByRole('spinbutton', { name: 'Delay (minutes)' }));
    await user.type(addRule.getByRole('spinbutton', { name: 'Delay (minutes)' }), '10');
    await user.click(addRule.getByRole('button', { name: 'Add rule' }));
    expect(await ruleList.findByText('after 10 minutes of a low-urgency page')).toBeInTheDocument();
    expect(api.requests.find((request) => request.method === 'POST' && request.url.pathname === '/users/me/notification-rules')!.body).toEqual({
      contact_method_id: methods[1]!.id,
      urgency: 'low',
      delay_minutes: 10,
    });

    // Removing the phone takes its rule with it; both lists are read again.
    await user.click(methodList.getByRole('button', { name: 'Remove work phone' }));
    await waitFor(() => expect(methodList.queryByText('work phone')).not.toBeInTheDocument());
    await waitFor(() => expect(ruleList.queryByText('after 5 minutes of a high-urgency page')).not.toBeInTheDocument());
    const removal = api.requests.find((request) => request.method === 'DELETE')!;
    expect(removal.url.pathname).toBe(`/users/me/contact-methods/${phone.id}`);
    expect(removal.headers.get('X-CSRF-Token')).toBe('csrf-of-the-session');

    await user.click(ruleList.getByRole('button', { name: /^Remove the rule: Slack direct message U0123ABCD after 10 minutes/ }));
    await waitFor(() => expect(ruleList.getByText(/No rules/)).toBeInTheDocument());
  });

  it('turns a method off and on again', async () => {
    let phone = method('1', 'sms', '+14155550123', 'work phone');
    const api = mockApi()
      .get('/auth/status', { body: alice })
      .get('/users/me/contact-methods', () => ({ body: { items: [phone] } }))
      .get('/users/me/notification-rules', { body: { items: [] } })
      .patch(/^\/users\/me\/contact-methods\//, (request) => {
        phone = { ...phone, disabled: (request.body as { disabled: boolean }).disabled };
        return { body: phone };
      });
    const { user } = renderApp('/profile', { signedIn: false });
    const methodList = within(await screen.findByRole('region', { name: 'Contact methods' }));
    await user.click(await methodList.findByRole('button', { name: 'Turn off work phone' }));
    expect(await methodList.findByText('off: pages nobody')).toBeInTheDocument();
    const change = api.requests.find((request) => request.method === 'PATCH')!;
    expect(change.url.pathname).toBe(`/users/me/contact-methods/${phone.id}`);
    expect(change.body).toEqual({ disabled: true });
    expect(change.headers.get('X-CSRF-Token')).toBe('csrf-of-the-session');
    await user.click(methodList.getByRole('button', { name: 'Turn on work phone' }));
    await waitFor(() => expect(methodList.queryByText('off: pages nobody')).not.toBeInTheDocument());
  });

  it('shows the API’s 400 under the field it names, and other refusals above the form', async () => {
    const phone = method('1', 'sms', '+14155550123', 'work phone');
    const api = mockApi()
      .get('/auth/status', { body: alice })
      .get('/users/me/contact-methods', { body: { items: [phone] } })
      .get('/users/me/notification-rules', { body: { items: [] } })
      .post('/users/me/contact-methods', apiError(400, 'invalid_payload', 'address must be a phone number in E.164 form, not "pigeon"'))
      .post('/users/me/notification-rules', apiError(400, 'invalid_payload', 'delay_minutes is 121; it must be between 0 and 120 minutes'));
    const { user } = renderApp('/profile', { signedIn: false });
    const addMethod = within(await screen.findByRole('form', { name: 'Add a contact method' }));
    await user.type(addMethod.getByRole('textbox', { name: 'Address' }), 'pigeon');
    await user.click(addMethod.getByRole('button', { name: 'Add method' }));
    const address = addMethod.getByRole('textbox', { name: 'Address' });
    await waitFor(() => expect(address).toBeInvalid());
    expect(address).toHaveAccessibleDescription(/address must be a phone number in E\.164 form, not "pigeon"/);
    expect(addMethod.getByRole('textbox', { name: 'Label' })).toBeValid();

    const addRule = within(screen.getByRole('form', { name: 'Add a notification rule' }));
    const delay = addRule.getByRole('spinbutton', { name: 'Delay (minutes)' });
    await user.clear(delay);
    await user.type(delay, '121');
    await user.click(addRule.getByRole('button', { name: 'Add rule' }));
    await waitFor(() => expect(delay).toBeInvalid());
    expect(delay).toHaveAccessibleDescription('0 to 120; 0 is at once delay_minutes is 121; it must be between 0 and 120 minutes');
    expect(api.requests.filter((request) => request.method === 'POST')).toHaveLength(2);

    // A refusal naming no field (a conflict) is shown above the form.
    api.post('/users/me/contact-methods', apiError(409, 'conflict', 'this person has 10 contact methods, the most there may be'));
    await user.click(addMethod.getByRole('button', { name: 'Add method' }));
    expect(await screen.findByText(/has 10 contact methods/)).toBeInTheDocument();
    expect(address).toBeValid();
  });

  it('a shared token has no profile and says so', async () => {
    mockApi().get('/auth/status', { body: { provider: false } });
    renderApp('/profile');
    expect(await screen.findByText(/You are using a shared token/)).toBeInTheDocument();
  });
});
