import type { Gap, Shift } from '../../shared/api/types';
import { formatShiftTime } from '../../shared/lib/format';
import { placeOnDay, weekDays } from './week';

const dayLabel = new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric', month: 'short' });

/** Shades told apart by the people's order of appearance, with their names written on them too. */
const SHADES = ['bg-accent/20 border-accent', 'bg-ack-bg border-ack', 'bg-ok-bg border-ok', 'bg-sev-warning-bg border-sev-warning-bar'];

/**
 * The week's final result drawn as seven day rows of 24 hours: who is on call, and the gaps
 * (nobody) struck through in red. It is a picture for the eye; the same shifts are listed in words
 * below it (ShiftList), where the buttons are.
 */
export function WeekTimeline({ start, final, gaps }: { start: Date; final: Shift[]; gaps: Gap[] }) {
  const days = weekDays(start);
  const shade = new Map<string, string>();
  for (const shift of final) if (!shade.has(shift.user.id)) shade.set(shift.user.id, SHADES[shade.size % SHADES.length]!);
  return (
    <div aria-hidden="true" data-testid="week-timeline" className="space-y-1 rounded-lg border border-line bg-surface p-3">
      <div className="ml-24 flex justify-between text-xs text-muted tabular-nums">
        <span>00:00</span>
        <span>06:00</span>
        <span>12:00</span>
        <span>18:00</span>
        <span>24:00</span>
      </div>
      {days.slice(0, 7).map((day, index) => {
        const dayStart = day.getTime();
        const dayEnd = days[index + 1]!.getTime();
        return (
          <div key={dayStart} className="flex items-center gap-2">
            <span className="w-22 shrink-0 text-xs text-muted">{dayLabel.format(day)}</span>
            <div className="relative h-8 min-w-0 flex-1 overflow-hidden rounded bg-subtle">
              {final.map((shift) => {
                const place = placeOnDay(Date.parse(shift.from), Date.parse(shift.until), dayStart, dayEnd);
                if (!place) return null;
                return (
                  <div
                    key={`${shift.from}-${shift.user.id}`}
                    data-kind={shift.override_id ? 'override' : 'shift'}
                    className={`absolute inset-y-0 overflow-hidden border-l-2 px-1 text-xs leading-8 whitespace-nowrap ${shade.get(shift.user.id)} ${
                      shift.override_id ? 'font-semibold italic' : ''
                    }`}
                    style={{ left: `${place.left}%`, width: `${place.width}%` }}
                    title={`${shift.user.name}: ${formatShiftTime(shift.from)} to ${formatShiftTime(shift.until)}`}
                  >
                    {shift.user.name}
                  </div>
                );
              })}
              {gaps.map((gap) => {
                const place = placeOnDay(Date.parse(gap.from), Date.parse(gap.until), dayStart, dayEnd);
                if (!place) return null;
                return (
                  <div
                    key={`gap-${gap.from}`}
                    data-kind="gap"
                    className="gap-stripes absolute inset-y-0 overflow-hidden border-x-2 border-danger px-1 text-xs leading-8 font-semibold whitespace-nowrap text-danger"
                    style={{ left: `${place.left}%`, width: `${place.width}%` }}
                  >
                    nobody
                  </div>
                );
              })}
            </div>
          </div>
        );
      })}
    </div>
  );
}
