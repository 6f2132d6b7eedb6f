// Times and durations as an on-call engineer reads them: short, fixed width, local time zone.

/** `42s`, `3m 05s`, `2h 07m`, `3d 04h`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) ms = 0;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${pad(s % 60)}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${pad(m % 60)}m`;
  const d = Math.floor(h / 24);
  return `${d}d ${pad(h % 24)}h`;
}

/** Spoken form for screen readers and titles: `3 minutes 5 seconds`. */
export function describeDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const parts: [number, string][] = [
    [Math.floor(s / 86400), 'day'],
    [Math.floor((s % 86400) / 3600), 'hour'],
    [Math.floor((s % 3600) / 60), 'minute'],
    [s % 60, 'second'],
  ];
  const used = parts.filter(([n]) => n > 0).slice(0, 2);
  if (used.length === 0) return '0 seconds';
  return used.map(([n, unit]) => `${n} ${unit}${n === 1 ? '' : 's'}`).join(' ');
}

function pad(n: number) {
  return String(n).padStart(2, '0');
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, {
  day: 'numeric',
  month: 'short',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hour12: false,
});
const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });

export function formatTime(iso: string | number): string {
  return timeFormat.format(new Date(iso));
}

export function formatDateTime(iso: string | number): string {
  return dateTimeFormat.format(new Date(iso));
}

export function formatDay(iso: string | number): string {
  return dayFormat.format(new Date(iso));
}

export function pluralize(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString('en')} ${n === 1 ? one : many}`;
}

// hourCycle h23, not hour12: false, which some locales (en-US) answer with "24:00" for midnight,
// and midnight is where most shifts hand off.
const shiftFormat = new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });

/** A shift's edge as a person plans around it: `Tue, Dec 8, 09:00` (in en-US), in the viewer's time zone. */
export function formatShiftTime(iso: string | number): string {
  return shiftFormat.format(new Date(iso));
}

/** The viewer's IANA time zone, in which every time on the page is shown. */
export function viewerTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}
