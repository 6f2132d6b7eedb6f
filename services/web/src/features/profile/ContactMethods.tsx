import { useState, type FormEvent } from 'react';
import {
  refusedField,
  useAddContactMethod,
  useRemoveContactMethod,
  useSetContactMethodDisabled,
  useTestContactMethod,
} from '../../shared/api/profile';
import type { ContactMethod } from '../../shared/api/types';
import { Button } from '../../shared/ui/Button';
import { ErrorMessage } from '../../shared/ui/ErrorMessage';
import { Field } from '../../shared/ui/Field';
import { Notice } from '../../shared/ui/Notice';

const inputClass = 'rounded-md border border-line bg-surface px-2 py-1 text-sm aria-invalid:border-danger';

export const KINDS = [
  { kind: 'slack', label: 'Slack direct message', hint: 'Slack member id (U0123ABCD) or the e-mail of your Slack account' },
  { kind: 'email', label: 'E-mail', hint: 'an e-mail address' },
  { kind: 'sms', label: 'SMS', hint: 'a phone number with its country code: +1 415 555 0123' },
  { kind: 'voice', label: 'Voice call', hint: 'a phone number with its country code: +1 415 555 0123' },
  { kind: 'webhook', label: 'Webhook', hint: 'an https URL; the page is a signed JSON POST' },
] as const;

export function kindLabel(kind: string): string {
  return KINDS.find((known) => known.kind === kind)?.label ?? kind;
}

const FIELDS = ['kind', 'address', 'label'] as const;

/** The person's ways of being paged: listed, added (refusals shown by field), turned off and on, removed, and tested. */
export function ContactMethods({ methods }: { methods: ContactMethod[] }) {
  const remove = useRemoveContactMethod();
  const setDisabled = useSetContactMethodDisabled();
  const test = useTestContactMethod();
  return (
    <section aria-labelledby="contact-methods" className="space-y-3">
      <h2 id="contact-methods" className="text-lg font-semibold">
        Contact methods
      </h2>
      {methods.length === 0 ? (
        <p className="text-muted">You have no contact methods: nobody can page you yet.</p>
      ) : (
        <ul className="divide-y divide-line rounded-lg border border-line bg-surface">
          {methods.map((method) => (
            <li key={method.id} className="flex flex-wrap items-center gap-x-3 gap-y-2 px-3 py-2">
              <div className="min-w-0 flex-1">
                <p className="font-medium">
                  {method.label || kindLabel(method.kind)}
                  {method.disabled && <span className="ml-2 text-xs text-danger">off: pages nobody</span>}
                </p>
                <p className="text-sm break-all text-muted">
                  {kindLabel(method.kind)} · {method.address}
                </p>
              </div>
              <Button disabled={test.isPending} onClick={() => test.mutate(method.id)} aria-label={`Send a test page to ${method.label || method.address}`}>
                Send a test page
              </Button>
              <Button
                variant="ghost"
                disabled={setDisabled.isPending}
                onClick={() => setDisabled.mutate({ id: method.id, disabled: !method.disabled })}
                aria-label={`${method.disabled ? 'Turn on' : 'Turn off'} ${method.label || method.address}`}
              >
                {method.disabled ? 'Turn on' : 'Turn off'}
              </Button>
              <Button variant="ghost" disabled={remove.isPending} onClick={() => remove.mutate(method.id)} aria-label={`Remove ${method.label || method.address}`}>
                Remove
              </Button>
            </li>
          ))}
        </ul>
      )}
      {test.isSuccess && (
        <Notice tone="ok">
          Test page to {test.data.contact_method.label || test.data.contact_method.address} sent: it arrives within a few seconds.
        </Notice>
      )}
      {test.isError && <ErrorMessage error={test.error} title="Could not send the test page" />}
      {remove.isError && <ErrorMessage error={remove.error} title="Could not remove the method" />}
      {setDisabled.isError && <ErrorMessage error={setDisabled.error} title="Could not change the method" />}
      <AddContactMethod />
    </section>
  );
}

function AddContactMethod() {
  const [kind, setKind] = useState<string>('sms');
  const [address, setAddress] = useState('');
  const [label, setLabel] = useState('');
  const add = useAddContactMethod();
  const field = refusedField(add.error, FIELDS);
  const errorOf = (name: (typeof FIELDS)[number]) => (field === name ? add.error!.message : undefined);

  function submit(event: FormEvent) {
    event.preventDefault();
    add.mutate(
      { kind, address: address.trim(), label: label.trim() },
      {
        onSuccess: () => {
          setAddress('');
          setLabel('');
        },
      },
    );
  }

  return (
    <form aria-label="Add a contact method" onSubmit={submit} className="flex flex-wrap items-start gap-3">
      <Field label="Kind" error={errorOf('kind')}>
        {(id, described) => (
          <select id={id} {...described} value={kind} onChange={(event) => setKind(event.target.value)} className={inputClass}>
            {KINDS.map((known) => (
              <option key={known.kind} value={known.kind}>
                {known.label}
              </option>
            ))}
          </select>
        )}
      </Field>
      <Field label="Address" hint={KINDS.find((known) => known.kind === kind)?.hint} error={errorOf('address')}>
        {(id, described) => (
          <input id={id} {...described} required value={address} onChange={(event) => setAddress(event.target.value)} className={`${inputClass} w-72 max-w-full`} />
        )}
      </Field>
      <Field label="Label" hint="optional: work phone" error={errorOf('label')}>
        {(id, described) => <input id={id} {...described} value={label} onChange={(event) => setLabel(event.target.value)} className={inputClass} />}
      </Field>
      <Button type="submit" variant="primary" disabled={add.isPending || !address.trim()} className="mt-6">
        Add method
      </Button>
      {add.isError && !field && (
        <div className="basis-full">
          <ErrorMessage error={add.error} title="Could not add the method" />
        </div>
      )}
    </form>
  );
}
