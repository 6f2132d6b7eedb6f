import { CircleCheck, Eye, Flame } from 'lucide-react';
import type { IncidentStatus } from '../api/types';

const statusStyle = {
  open: { icon: Flame, label: 'Open', chip: 'bg-danger-bg text-danger' },
  acknowledged: { icon: Eye, label: 'Acknowledged', chip: 'bg-ack-bg text-ack' },
  resolved: { icon: CircleCheck, label: 'Resolved', chip: 'bg-ok-bg text-ok' },
} as const;

export function StatusBadge({ status, compact = false }: { status: IncidentStatus; compact?: boolean }) {
  const style = statusStyle[status];
  const Icon = style.icon;
  return (
    <span
      className={`inline-flex shrink-0 items-center gap-1 rounded px-1.5 py-0.5 text-xs font-medium ${style.chip}`}
      title={compact ? style.label : undefined}
    >
      <Icon aria-hidden="true" className="size-3.5" strokeWidth={2.25} />
      {compact ? <span className="sr-only">{style.label}</span> : style.label}
    </span>
  );
}
