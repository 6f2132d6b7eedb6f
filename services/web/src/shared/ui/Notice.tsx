import type { ReactNode } from 'react';

const tones = {
  info: { role: 'status', colours: 'border-line bg-subtle' },
  ok: { role: 'status', colours: 'border-ok/40 bg-ok-bg text-ok' },
  error: { role: 'alert', colours: 'border-danger/40 bg-danger-bg text-danger' },
} as const;

export type NoticeTone = keyof typeof tones;

/**
 * A message in a box. Info and ok are polite (role status: read when the reader is idle); an
 * error interrupts (role alert).
 */
export function Notice({ tone, id, className = '', children }: { tone: NoticeTone; id?: string; className?: string; children: ReactNode }) {
  const { role, colours } = tones[tone];
  return (
    <div id={id} role={role} className={`rounded-md border px-3 py-2 text-sm ${colours} ${className}`}>
      {children}
    </div>
  );
}
