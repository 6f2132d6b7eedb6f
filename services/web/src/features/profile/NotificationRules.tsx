import { useState, type FormEvent } from 'react';
import { refusedField, useAddNotificationRule, useRemoveNotificationRule } from '../../shared/api/profile';
import type { ContactMethod, NotificationRule } from '../../shared/api/types';
import { Button } from '../../shared/ui/Button';
import { ErrorMessage } from '../../shared/ui/ErrorMessage';
import { Field } from '../../shared/ui/Field';
import { kindLabel } from './ContactMethods';

const inputClass = 'rounded-md border border-line bg-surface px-2 py-1 text-sm aria-invalid:border-danger';
const FIELDS = ['contact_method_id', 'urgency', 'delay_minutes'] as const;

const urgencyWords: Record<string, string> = { high: 'High urgency (critical)', low: 'Low urgency' };

function after(minutes: number): string {
  return minutes === 0 ? 'at once' : `after ${minutes} minute${minutes === 1 ? '' : 's'}`;
}

/**
 * When each method is used for a page: "SMS after 5 minutes of a high-urgency page". Listed as the
 * API orders them (high urgency first, then by delay), added and removed.
 */
export function NotificationRules({ rules, methods }: { rules: NotificationRule[]; methods: ContactMethod[] }) {
  const remove = useRemoveNotificationRule();
  const methodName = (id: string) => {
    const method = methods.find((known) => known.id === id);
    return method ? method.label || `${kindLabel(method.kind)} ${method.address}` : 'a removed method';
  };
  return (
    <section aria-labelledby="notification-rules" className="space-y-3">
      <h2 id="notification-rules" className="text-lg font-semibold">
        Notification rules
      </h2>
      {rules.length === 0 ? (
        <p className="text-muted">No rules: a page reaches you by none of your methods.</p>
      ) : (
        <ul className="divide-y divide-line rounded-lg border border-line bg-surface">
          {rules.map((rule) => (
            <li key={rule.id} className="flex flex-wrap items-center gap-x-3 gap-y-1 px-3 py-2">
              <p className="min-w-0 flex-1">
                <strong className="font-medium">{methodName(rule.contact_method_id)}</strong>{' '}
                <span className="text-muted">
                  {after(rule.delay_minutes)} of a {rule.urgency === 'high' ? 'high-urgency' : 'low-urgency'} page
                </span>
              </p>
              <Button
                variant="ghost"
                disabled={remove.isPending}
                onClick={() => remove.mutate(rule.id)}
                aria-label={`Remove the rule: ${methodName(rule.contact_method_id)} ${after(rule.delay_minutes)}, ${rule.urgency} urgency`}
              >
                Remove
              </Button>
            </li>
          ))}
        </ul>
      )}
      {remove.isError && <ErrorMessage error={remove.error} title="Could not remove the rule" />}
      {methods.length > 0 ? <AddRule methods={methods} /> : <p className="text-sm text-muted">Add a contact method first.</p>}
    </section>
  );
}

function AddRule({ methods }: { methods: ContactMethod[] }) {
  const [method, setMethod] = useState(methods[0]!.id);
  const [urgency, setUrgency] = useState('high');
  const [delay, setDelay] = useState('0');
  const add = useAddNotificationRule();
  const field = refusedField(add.error, FIELDS);
  const errorOf = (name: (typeof FIELDS)[number]) => (field === name ? add.error!.message : undefined);
  // A method removed since it was chosen: fall back to the first.
  const chosen = methods.some((known) => known.id === method) ? method : methods[0]!.id;

  function submit(event: FormEvent) {
    event.preventDefault();
    add.mutate({ contact_method_id: chosen, urgency, delay_minutes: Number(delay) });
  }

  return (
    <form aria-label="Add a notification rule" onSubmit={submit} className="flex flex-wrap items-start gap-3">
      <Field label="Method" error={errorOf('contact_method_id')}>
        {(id, described) => (
          <select id={id} {...described} value={chosen} onChange={(event) => setMethod(event.target.value)} className={`${inputClass} max-w-72`}>
            {methods.map((known) => (
              <option key={known.id} value={known.id}>
                {known.label || `${kindLabel(known.kind)} ${known.address}`}
              </option>
            ))}
          </select>
        )}
      </Field>
      <Field label="Urgency" error={errorOf('urgency')}>
        {(id, described) => (
          <select id={id} {...described} value={urgency} onChange={(event) => setUrgency(event.target.value)} className={inputClass}>
            {Object.entries(urgencyWords).map(([value, words]) => (
              <option key={value} value={value}>
                {words}
              </option>
            ))}
          </select>
        )}
      </Field>
      <Field label="Delay (minutes)" hint="0 to 120; 0 is at once" error={errorOf('delay_minutes')}>
        {(id, described) => (
          <input
            id={id}
            {...described}
            type="number"
            required
            value={delay}
            onChange={(event) => setDelay(event.target.value)}
            className={`${inputClass} w-24`}
          />
        )}
      </Field>
      <Button type="submit" variant="primary" disabled={add.isPending} className="mt-6">
        Add rule
      </Button>
      {add.isError && !field && (
        <div className="basis-full">
          <ErrorMessage error={add.error} title="Could not add the rule" />
        </div>
      )}
    </form>
  );
}
