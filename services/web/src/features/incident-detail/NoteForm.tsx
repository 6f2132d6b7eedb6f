import { useState, type FormEvent } from 'react';
import { useAddNote } from '../../shared/api/actions';
import type { Incident } from '../../shared/api/types';
import { Button } from '../../shared/ui/Button';
import { ErrorMessage } from '../../shared/ui/ErrorMessage';
import { Field } from '../../shared/ui/Field';
import { useActorName } from './actor';

/** The server's limit on a note, in bytes of UTF-8 (docs/api.md). */
const MAX_NOTE_BYTES = 8192;

/** Adds a Markdown note to the timeline; the text is kept until incident-core has recorded it. */
export function NoteForm({ incident }: { incident: Incident }) {
  const actor = useActorName();
  const note = useAddNote();
  const [text, setText] = useState('');
  const bytes = new TextEncoder().encode(text).length;
  const tooLong = bytes > MAX_NOTE_BYTES;

  const submit = (event: FormEvent) => {
    event.preventDefault();
    note.mutate({ id: incident.id, text, actor }, { onSuccess: () => setText('') });
  };

  return (
    <form onSubmit={submit} aria-label="Add a note" className="mt-4 space-y-2 border-t border-line pt-3">
      <Field
        label="Note"
        hint={tooLong ? `${bytes} of ${MAX_NOTE_BYTES} bytes: too long` : 'Markdown: **bold**, `code`, lists, links.'}
      >
        {(id, described) => (
          <textarea
            id={id}
            {...described}
            aria-invalid={tooLong || undefined}
            value={text}
            rows={3}
            onChange={(event) => setText(event.target.value)}
            className="w-full rounded-md border border-line bg-canvas px-2 py-1 text-sm text-fg aria-invalid:border-danger"
          />
        )}
      </Field>
      <Button type="submit" variant="primary" disabled={note.isPending || !text.trim() || tooLong}>
        {note.isPending ? 'Adding…' : 'Add note'}
      </Button>
      {note.isError && <ErrorMessage error={note.error} title="Could not add the note" />}
    </form>
  );
}
