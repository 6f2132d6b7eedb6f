import { UserX } from 'lucide-react';
import { ApiError } from '../../shared/api/client';
import { useTakeShift } from '../../shared/api/oncall';
import type { Gap, Shift } from '../../shared/api/types';
import { formatShiftTime } from '../../shared/lib/format';
import { Button } from '../../shared/ui/Button';
import { Notice } from '../../shared/ui/Notice';

type Entry = { kind: 'shift'; shift: Shift } | { kind: 'gap'; gap: Gap };

/**
 * The week's final result in words, shifts and gaps in time order. A shift not yet over can be
 * taken by the signed-in person: an override of the schedule for them, in place of whoever has it,
 * over that shift (`POST /schedules/{id}/overrides`; a part already past starts now). The database
 * refuses an override over part of another one: that 409 is said plainly.
 */
export function ShiftList({
  scheduleId,
  final,
  gaps,
  me,
  mayTakeShifts,
  now,
}: {
  scheduleId: string;
  final: Shift[];
  gaps: Gap[];
  /** The signed-in person's e-mail address; null for a shared token, which cannot take shifts. */
  me: string | null;
  /** Whether the person may put themselves on call here: a responder or manager of its team, or an admin (as the API decides). */
  mayTakeShifts: boolean;
  now: number;
}) {
  const take = useTakeShift(scheduleId);
  const entries: Entry[] = [
    ...final.map((shift) => ({ kind: 'shift' as const, shift })),
    ...gaps.map((gap) => ({ kind: 'gap' as const, gap })),
  ].sort((a, b) => Date.parse(from(a)) - Date.parse(from(b)));

  const takeShift = (from: string, until: string, replaces: string | null) =>
    take.mutate({ user: me!, from, until, replaces, reason: 'taken on the schedule page' });

  return (
    <section aria-labelledby="final-result" className="space-y-2">
      <h2 id="final-result" className="text-sm font-semibold tracking-wide text-muted uppercase">
        Who is on call this week
      </h2>
      {take.isError && (
        <Notice tone="error">
          {take.error instanceof ApiError && take.error.code === 'conflict' ? (
            <p>
              <strong className="font-semibold">Someone has already taken part of that shift:</strong> another override of this
              schedule covers some of that time ({take.error.message}).
            </p>
          ) : (
            <p>
              <strong className="font-semibold">Could not take the shift:</strong> {take.error.message}
            </p>
          )}
        </Notice>
      )}
      {take.isSuccess && (
        <Notice tone="ok">
          You are on call from {formatShiftTime(take.data.from)} to {formatShiftTime(take.data.until)}
          {take.data.replaces ? ` in place of ${take.data.replaces.name}` : ''}.
        </Notice>
      )}
      {!me && <p className="text-sm text-muted">Sign in with your organisation&apos;s sign-in to take a shift.</p>}
      {me && !mayTakeShifts && <p className="text-sm text-muted">The team&apos;s responders, managers and admins take shifts.</p>}
      {entries.length === 0 && <p className="py-4 text-muted">No layer has anyone this week.</p>}
      <ol className="divide-y divide-line rounded-lg border border-line bg-surface">
        {entries.map((entry) =>
          entry.kind === 'gap' ? (
            <li key={`gap-${entry.gap.from}`} className="flex flex-wrap items-center gap-x-3 gap-y-1 px-3 py-2">
              <span className="inline-flex items-center gap-1.5 font-semibold text-danger">
                <UserX aria-hidden="true" className="size-4" />
                Nobody on call
              </span>
              <span className="text-sm text-muted">{range(entry.gap.from, entry.gap.until)}</span>
            </li>
          ) : (
            <li key={`shift-${entry.shift.from}`} className="flex flex-wrap items-center gap-x-3 gap-y-1 px-3 py-2">
              <strong className="font-semibold">{entry.shift.user.name}</strong>
              {entry.shift.override_id && <span className="rounded bg-ack-bg px-1.5 text-xs text-ack">override</span>}
              <span className="text-sm text-muted">{range(entry.shift.from, entry.shift.until)}</span>
              {me && mayTakeShifts && Date.parse(entry.shift.until) > now && entry.shift.user.email?.toLowerCase() !== me.toLowerCase() && (
                <Button
                  className="ml-auto"
                  disabled={take.isPending}
                  aria-label={`Take this shift: ${entry.shift.user.name}, ${range(entry.shift.from, entry.shift.until)}`}
                  onClick={() => takeShift(entry.shift.from, entry.shift.until, entry.shift.user.id)}
                >
                  Take this shift
                </Button>
              )}
            </li>
          ),
        )}
      </ol>
    </section>
  );
}

function from(entry: Entry): string {
  return entry.kind === 'gap' ? entry.gap.from : entry.shift.from;
}

function range(from: string, until: string): string {
  return `${formatShiftTime(from)} to ${formatShiftTime(until)}`;
}
