import { useConnection } from '../../shared/api/connection';
import { formatTime } from '../../shared/lib/format';

/** Live, Connecting, Reconnecting (since when) or Offline: small, but always there. */
export function ConnectionBadge({ large = false }: { large?: boolean }) {
  const { status, since } = useConnection();
  const text =
    status === 'live'
      ? 'Live'
      : status === 'connecting'
        ? 'Connecting…'
        : status === 'offline'
          ? `Offline since ${formatTime(since)}`
          : `Reconnecting since ${formatTime(since)}`;
  const dot = status === 'live' ? 'bg-ok' : status === 'connecting' ? 'bg-muted' : 'bg-danger animate-pulse';
  return (
    <span
      role="status"
      data-testid="connection"
      data-state={status}
      title={status === 'live' ? 'Updates arrive as they happen' : 'Updates are polled every 15 s until the stream is back'}
      className={`inline-flex items-center gap-1.5 rounded-full border border-line px-2 py-0.5 ${large ? 'px-3 py-1 text-xl' : 'text-xs'} ${
        status === 'live' ? 'text-fg' : 'text-danger'
      }`}
    >
      <span aria-hidden="true" className={`${large ? 'size-3' : 'size-2'} rounded-full ${dot}`} />
      {text}
    </span>
  );
}
