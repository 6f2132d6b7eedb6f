import { CircleCheck, Eye, Flame } from 'lucide-react';
import type { IncidentStatus } from '../api/types';

const statusStyle = {
  open: { icon: Flame, label: 'Open', chip: 'bg-danger-bg text-danger' },
  acknowledged: { icon: Eye, label: 'Acknowledged', chip: 'bg-ack-bg text-ack' },
  resolved: { icon: CircleCheck, label: 'Resolved', chip: 'bg-ok-bg text-ok' },
} as const;

/** `compact`: the icon alone (the word for screen readers); `wordFromSm`: compact on a phone only. */
export function StatusBadge({ status, compact = false, wordFromSm = false }: { status: IncidentStatus; compact?: boolean; wordFromSm?: boolean }) {
  const style = statusStyle[status];
  const Icon = style.icon;
  const word = compact ? 'sr-only' : wordFromSm ? 'max-sm:sr-only' : '';
  return (
    <span
      className={`inline-flex shrink-0 items-center gap-1 rounded px-1.5 py-0.5 text-xs font-medium ${style.chip}`}
      title={compact || wordFromSm ? style.label : undefined}
    >
      <Icon aria-hidden="true" className="size-3.5" strokeWidth={2.25} />
      {word ? <span className={word}>{style.label}</span> : style.label}
    </span>
  );
}
