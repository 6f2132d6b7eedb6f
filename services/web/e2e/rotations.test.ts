import { describe, expect, it } from 'vitest';
import { axe, newContext, pageErrors, serious } from './browser';
import { asPerson, makeAdmin, signInAs } from './people';
import { expectNoOverflow, PHONE, shoot } from './phone';
import { sharedBrowser } from './sharedBrowser';
import { api, unique } from './stack';

// The on-call pages against the real stack: a schedule made through the API, its final result
// on the schedule page, "take this shift" changing it (and who is on call now), and the on-call,
// schedule and profile pages at a phone's width.

const browser = sharedBrowser();

interface OnCall {
  items: { schedule: { id: string }; user: { email: string } | null }[];
}

/** Local wall-clock time in `zone`, `daysAgo` days back, at 09:00: a layer's first hand-off. */
function nineOClock(daysAgo: number): string {
  const day = new Date(Date.now() - daysAgo * 86_400_000);
  return `${day.toISOString().slice(0, 10)}T09:00`;
}

describe('schedules', () => {
  it('a person takes a shift on the schedule page and the final result changes', async () => {
    // Bob exists once he has signed in; Alice, an admin, runs the team's rotation.
    const bobs = await newContext(browser());
    await signInAs(bobs, 'bob');
    await bobs.close();
    const context = await newContext(browser(), { axe: true });
    const page = await signInAs(context, 'alice');
    makeAdmin('alice@example.com');
    const as = await asPerson(context);

    const team = unique('e2e-rota');
    await as('PUT', `/services/${unique('e2e-rota-svc')}`, { team });
    const schedule = await as<{ id: string }>('POST', '/schedules', { team, name: 'primary', time_zone: 'Europe/London' });
    // Bob every week from a week ago; the layer is in force from now on, so earlier today is a gap.
    await as('POST', `/schedules/${schedule.id}/layers`, {
      first_handoff: nineOClock(7),
      shift_unit: 'weeks',
      shift_count: 1,
      members: ['bob@example.com'],
    });

    await page.goto(`/rotations/${schedule.id}`);
    await page.getByRole('heading', { level: 1, name: `${team}: primary` }).waitFor();
    const week = page.getByRole('region', { name: 'Who is on call this week' });
    await week.getByText('Bob Dobbs').first().waitFor();
    await week.getByText('Nobody on call').first().waitFor();
    expect(await page.getByTestId('week-timeline').locator('[data-kind="gap"]').count()).toBeGreaterThan(0);
    expect(serious(await axe(page))).toEqual([]);

    await week.getByRole('button', { name: /^Take this shift: Bob Dobbs/ }).first().click();
    await page.getByRole('status').filter({ hasText: /You are on call from .* in place of Bob Dobbs/ }).waitFor();
    // The final result, asked again, has Alice's override where Bob was.
    await week.getByRole('listitem').filter({ hasText: 'Alice Liddell' }).filter({ hasText: 'override' }).waitFor();
    await page.getByTestId('week-timeline').getByText('Alice Liddell').first().waitFor();
    await shoot(page, 'rotation-light');
    const now = await api<OnCall>(`/oncall?team=${team}`);
    expect(now.items.map((item) => item.user?.email)).toEqual(['alice@example.com']);

    // Next week Bob is back from his hand-off (Alice took his shift only to its end), with no gap.
    // This week has one (the layer is in force from now on) and Bob's next shift in it, so the
    // list is waited for until it is next week's, not read while it still shows this one.
    await page.getByRole('button', { name: /Next week/ }).click();
    await expect.poll(() => week.getByText('Nobody on call').count(), { timeout: 15_000 }).toBe(0);
    await week.getByRole('listitem').filter({ hasText: 'Bob Dobbs' }).filter({ hasText: 'Take this shift' }).first().waitFor();

    // The on-call page names her, and links to the schedule.
    await page.goto('/on-call');
    const card = page.getByRole('region', { name: team });
    await card.getByText('Alice Liddell').waitFor();
    expect(await card.getByRole('link', { name: 'primary' }).getAttribute('href')).toBe(`/rotations/${schedule.id}`);
    expect(serious(await axe(page))).toEqual([]);
    expect(pageErrors(page)).toEqual([]);
    await context.close();

    // On a phone: the on-call page and the schedule fit the screen.
    const phone = await newContext(browser(), PHONE);
    const small = await signInAs(phone, 'alice');
    await small.goto('/on-call');
    await small.getByRole('region', { name: team }).getByText('Alice Liddell').waitFor();
    await expectNoOverflow(small, 'the on-call page');
    await shoot(small, 'phone-oncall');
    await small.goto(`/rotations/${schedule.id}`);
    await small.getByRole('region', { name: 'Who is on call this week' }).getByText('Alice Liddell').first().waitFor();
    await expectNoOverflow(small, 'the schedule page');
    await shoot(small, 'phone-rotation');
    expect(pageErrors(small)).toEqual([]);
    await phone.close();
  });
});

describe('profile', () => {
  it('a person adds contact methods and a rule, sees a refusal under its field, and sends a test page, on a phone', async () => {
    const context = await newContext(browser(), { ...PHONE, axe: true });
    const page = await signInAs(context, 'bob');
    await page.getByRole('link', { name: 'Profile' }).click();
    await page.getByRole('heading', { level: 1, name: 'Profile' }).waitFor();
    const methods = page.getByRole('form', { name: 'Add a contact method' });

    // A refusal of the API, under the field it names.
    await methods.getByLabel('Kind').selectOption('sms');
    await methods.getByLabel('Address').fill('pigeon');
    await methods.getByRole('button', { name: 'Add method' }).click();
    const address = methods.getByRole('textbox', { name: 'Address' });
    await page.waitForFunction(() => document.querySelector('[aria-invalid="true"]') !== null);
    expect(await address.getAttribute('aria-invalid')).toBe('true');
    const described = (await address.getAttribute('aria-describedby'))!.split(' ');
    const error = await page.locator(`[id="${described.at(-1)}"]`).textContent();
    expect(error).toMatch(/^address /);

    await address.fill('+1 415 555 0123');
    await methods.getByLabel('Label').fill('work phone');
    await methods.getByRole('button', { name: 'Add method' }).click();
    const list = page.getByRole('region', { name: 'Contact methods' });
    await list.getByText('SMS · +14155550123').waitFor();
    expect(await address.getAttribute('aria-invalid')).toBeNull();

    await list.getByRole('button', { name: 'Send a test page to work phone' }).click();
    await page.getByRole('status').filter({ hasText: 'Test page to work phone sent' }).waitFor();

    const rules = page.getByRole('form', { name: 'Add a notification rule' });
    await rules.getByLabel('Delay (minutes)').fill('121');
    await rules.getByRole('button', { name: 'Add rule' }).click();
    await rules.getByText(/^delay_minutes /).waitFor();
    await rules.getByLabel('Delay (minutes)').fill('5');
    await rules.getByRole('button', { name: 'Add rule' }).click();
    await page.getByRole('region', { name: 'Notification rules' }).getByText('after 5 minutes of a high-urgency page').waitFor();

    await expectNoOverflow(page, 'the profile page');
    expect(serious(await axe(page))).toEqual([]);
    await shoot(page, 'phone-profile');

    await list.getByRole('button', { name: 'Remove work phone' }).click();
    await list.getByText('You have no contact methods').waitFor();
    await page.getByRole('region', { name: 'Notification rules' }).getByText('No rules').waitFor();
    // The browser logs the two refusals asked for above; nothing else.
    expect(pageErrors(page)).toEqual(Array(2).fill('Failed to load resource: the server responded with a status of 400 (Bad Request)'));
    await context.close();
  });
});
