import { useNow } from '../lib/clock';
import { describeDuration, formatDateTime, formatDuration } from '../lib/format';

/** A ticking age since `from`, e.g. `3m 05s`. */
export function Age({ from, className = '' }: { from: string; className?: string }) {
  const now = useNow();
  const ms = now - Date.parse(from);
  return (
    <time dateTime={from} title={`${formatDateTime(from)} (${describeDuration(ms)} ago)`} className={`tabular-nums ${className}`}>
      {formatDuration(ms)}
    </time>
  );
}
