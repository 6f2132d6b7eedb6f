import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { ChevronLeft, ChevronRight } from 'lucide-react';
import { useMemo, useState } from 'react';
import { useParams } from 'react-router';
import { ShiftList } from '../../features/rotations/ShiftList';
import { WeekTimeline } from '../../features/rotations/WeekTimeline';
import { weekStart } from '../../features/rotations/week';
import { scheduleOptions, shiftsOptions } from '../../shared/api/oncall';
import { formatDay, viewerTimeZone } from '../../shared/lib/format';
import { useSession } from '../../shared/lib/session';
import { useDocumentTitle } from '../../shared/ui/Brand';
import { Button } from '../../shared/ui/Button';
import { ErrorMessage } from '../../shared/ui/ErrorMessage';

/**
 * A schedule's week (`/rotations/{id}`): the final result of its layers and overrides, Monday to
 * Monday in the viewer's time zone, with the gaps marked, a control to move week by week, and
 * "take this shift". The path is not `/schedules/…`, which is the API's.
 */
export function RotationRoute() {
  const { id = '' } = useParams();
  const { person } = useSession();
  const [offset, setOffset] = useState(0);
  // The page's "now", fixed while it is open, so that the week's range (the query's key) is too.
  const [now] = useState(() => Date.now());
  const start = useMemo(() => weekStart(now, offset), [now, offset]);
  const end = useMemo(() => weekStart(now, offset + 1), [now, offset]);
  const schedule = useQuery(scheduleOptions(id));
  const shifts = useQuery({ ...shiftsOptions(id, start.toISOString(), end.toISOString()), placeholderData: keepPreviousData });
  useDocumentTitle(schedule.data ? `${schedule.data.name} (${schedule.data.team})` : 'Schedule');

  return (
    <div className="space-y-4">
      <div className="space-y-1">
        <h1 tabIndex={-1} className="text-xl font-semibold outline-none">
          {schedule.data ? `${schedule.data.team}: ${schedule.data.name}` : 'Schedule'}
        </h1>
        {schedule.data && (
          <p className="text-sm text-muted">
            Hands off in {schedule.data.time_zone}; shown in your time zone, {viewerTimeZone()}.
          </p>
        )}
      </div>
      {schedule.isError && <ErrorMessage error={schedule.error} title="Could not load the schedule" />}
      <div className="flex flex-wrap items-center gap-2" role="group" aria-label="Week">
        <Button onClick={() => setOffset((week) => week - 1)}>
          <ChevronLeft aria-hidden="true" className="size-4" />
          Previous week
        </Button>
        <Button disabled={offset === 0} onClick={() => setOffset(0)}>
          This week
        </Button>
        <Button onClick={() => setOffset((week) => week + 1)}>
          Next week
          <ChevronRight aria-hidden="true" className="size-4" />
        </Button>
        <p aria-live="polite" className="text-sm font-medium" data-testid="week">
          Week of {formatDay(start.getTime())}
        </p>
      </div>
      {shifts.isError && <ErrorMessage error={shifts.error} title="Could not load the shifts" />}
      {shifts.isPending && <p className="py-10 text-center text-muted">Loading the week…</p>}
      {shifts.data && (
        <div data-loaded={!shifts.isPlaceholderData} className="space-y-4">
          <WeekTimeline start={start} final={shifts.data.final} gaps={shifts.data.gaps} />
          <ShiftList
            scheduleId={id}
            final={shifts.data.final}
            gaps={shifts.data.gaps}
            me={person?.email ?? null}
            mayTakeShifts={
              !!person && (person.isAdmin || person.teams.some((team) => team.slug === schedule.data?.team && team.role !== 'viewer'))
            }
            now={now}
          />
        </div>
      )}
    </div>
  );
}
