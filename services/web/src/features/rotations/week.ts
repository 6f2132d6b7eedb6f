// The week a schedule page shows, in the viewer's time zone: from Monday 00:00 to the next Monday
// 00:00 local time (168 hours, or 167/169 across a daylight-saving change), and where a shift
// falls on each of its days.

const DAY_MS = 24 * 60 * 60 * 1000;

/** Monday 00:00, local time, of the week holding `at`, moved by `offset` weeks. */
export function weekStart(at: number, offset = 0): Date {
  const start = new Date(at);
  start.setHours(0, 0, 0, 0);
  const sinceMonday = (start.getDay() + 6) % 7;
  start.setDate(start.getDate() - sinceMonday + offset * 7);
  return start;
}

/** The seven local midnights of the week from `start`, and the one after. */
export function weekDays(start: Date): Date[] {
  return Array.from({ length: 8 }, (_, index) => {
    const day = new Date(start);
    day.setDate(start.getDate() + index);
    return day;
  });
}

/** Where [from, until) lies on the day [dayStart, dayEnd), as percentages of it; null if apart. */
export function placeOnDay(from: number, until: number, dayStart: number, dayEnd: number): { left: number; width: number } | null {
  const start = Math.max(from, dayStart);
  const end = Math.min(until, dayEnd);
  if (end <= start) return null;
  const length = dayEnd - dayStart || DAY_MS;
  return { left: ((start - dayStart) / length) * 100, width: ((end - start) / length) * 100 };
}
