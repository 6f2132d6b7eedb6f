import { UserX } from 'lucide-react';
import { Link } from 'react-router';
import type { OnCallEntry } from '../../shared/api/types';
import { formatShiftTime } from '../../shared/lib/format';

/**
 * Who is on call now, a section per team and a line per schedule: the person, until when (in the
 * viewer's time zone), and the schedule's page. Nobody on call is said in words, not left blank.
 */
export function OnCallNow({ entries }: { entries: OnCallEntry[] }) {
  if (entries.length === 0) {
    return <p className="py-6 text-center text-muted">No team has a schedule yet. docs/oncall.md sets one up.</p>;
  }
  const teams = new Map<string, OnCallEntry[]>();
  for (const entry of entries) teams.set(entry.schedule.team, [...(teams.get(entry.schedule.team) ?? []), entry]);
  return (
    <div className="grid gap-4 md:grid-cols-2 xl:grid-cols-3">
      {[...teams].map(([team, schedules]) => (
        <section key={team} aria-labelledby={`team-${team}`} className="min-w-0 rounded-lg border border-line bg-surface">
          <h2 id={`team-${team}`} className="border-b border-line px-4 py-2 font-semibold">
            {team}
          </h2>
          <ul className="divide-y divide-line">
            {schedules.map((entry) => (
              <li key={entry.schedule.id} className="space-y-0.5 px-4 py-3">
                <Link to={`/rotations/${entry.schedule.id}`} className="text-sm text-accent hover:underline">
                  {entry.schedule.name}
                </Link>
                {entry.user ? (
                  <p>
                    <strong className="font-semibold">{entry.user.name}</strong>{' '}
                    <span className="text-sm break-all text-muted">{entry.user.email}</span>
                  </p>
                ) : (
                  <p className="inline-flex items-center gap-1.5 font-semibold text-danger">
                    <UserX aria-hidden="true" className="size-4" />
                    Nobody is on call
                  </p>
                )}
                <p className="text-sm text-muted">{span(entry)}</p>
              </li>
            ))}
          </ul>
        </section>
      ))}
    </div>
  );
}

function span(entry: OnCallEntry): string {
  const until = entry.until ? `until ${formatShiftTime(entry.until)}` : 'until further notice';
  if (!entry.user) return entry.until ? `${until}, when the next shift starts` : 'and no shift to come';
  return entry.from ? `since ${formatShiftTime(entry.from)}, ${until}` : until;
}
