import { CircleAlert, Info, Siren, TriangleAlert, type LucideIcon } from 'lucide-react';
import type { Severity } from '../api/types';

// Severity is told by colour, icon and word together, never by colour alone.
export const severityStyle: Record<Severity, { icon: LucideIcon; label: string; text: string; chip: string; bar: string }> = {
  critical: {
    icon: Siren,
    label: 'Critical',
    text: 'text-sev-critical',
    chip: 'bg-sev-critical-bg text-sev-critical',
    bar: 'bg-sev-critical-bar',
  },
  high: { icon: TriangleAlert, label: 'High', text: 'text-sev-high', chip: 'bg-sev-high-bg text-sev-high', bar: 'bg-sev-high-bar' },
  warning: {
    icon: CircleAlert,
    label: 'Warning',
    text: 'text-sev-warning',
    chip: 'bg-sev-warning-bg text-sev-warning',
    bar: 'bg-sev-warning-bar',
  },
  info: { icon: Info, label: 'Info', text: 'text-sev-info', chip: 'bg-sev-info-bg text-sev-info', bar: 'bg-sev-info-bar' },
};

/**
 * The severity as colour, icon and word. `wordFromSm`: on a phone the word is left to screen
 * readers (and the tooltip), where a list row needs its width for the title.
 */
export function SeverityBadge({ severity, size = 'sm', wordFromSm = false }: { severity: Severity; size?: 'sm' | 'lg'; wordFromSm?: boolean }) {
  const style = severityStyle[severity];
  const Icon = style.icon;
  const sizing = size === 'lg' ? 'gap-1.5 px-2.5 py-1 text-sm' : 'gap-1 px-1.5 py-0.5 text-xs';
  return (
    <span
      className={`inline-flex shrink-0 items-center rounded font-semibold uppercase tracking-wide ${sizing} ${style.chip}`}
      title={wordFromSm ? style.label : undefined}
    >
      <Icon aria-hidden="true" className={size === 'lg' ? 'size-4' : 'size-3.5'} strokeWidth={2.5} />
      {wordFromSm ? <span className="max-sm:sr-only">{style.label}</span> : style.label}
    </span>
  );
}

/** A compact count with the severity's icon, e.g. in group headers. */
export function SeverityCount({ severity, count }: { severity: Severity; count: number }) {
  const style = severityStyle[severity];
  const Icon = style.icon;
  return (
    <span
      className={`inline-flex items-center gap-1 rounded px-1.5 py-0.5 text-xs font-semibold ${style.chip}`}
      title={`${count} ${style.label.toLowerCase()}`}
    >
      <Icon aria-hidden="true" className="size-3.5" strokeWidth={2.5} />
      <span>{count}</span>
      <span className="sr-only">{style.label.toLowerCase()}</span>
    </span>
  );
}
