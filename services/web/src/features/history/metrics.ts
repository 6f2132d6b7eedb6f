// Time to acknowledge and time to resolve, measured from `opened_at` (the first alert's start),
// as docs/api.md defines it. MTTA counts only incidents someone acknowledged; an incident resolved
// without acknowledgement has no time to acknowledge.
import type { Incident } from '../../shared/api/types';

export function timeToAcknowledge(incident: Incident): number | null {
  if (!incident.acknowledged_at) return null;
  return Math.max(0, Date.parse(incident.acknowledged_at) - Date.parse(incident.opened_at));
}

export function timeToResolve(incident: Incident): number | null {
  if (!incident.resolved_at) return null;
  return Math.max(0, Date.parse(incident.resolved_at) - Date.parse(incident.opened_at));
}

export interface ResponseStats {
  count: number;
  acknowledged: number;
  /** Mean time to acknowledge (ms), null when no incident was acknowledged. */
  mtta: number | null;
  /** Mean time to resolve (ms), null when none is resolved. */
  mttr: number | null;
  medianTtr: number | null;
}

export function responseStats(incidents: readonly Incident[]): ResponseStats {
  const ttas = incidents.map(timeToAcknowledge).filter((v): v is number => v !== null);
  const ttrs = incidents.map(timeToResolve).filter((v): v is number => v !== null);
  return {
    count: incidents.length,
    acknowledged: ttas.length,
    mtta: mean(ttas),
    mttr: mean(ttrs),
    medianTtr: median(ttrs),
  };
}

function mean(values: number[]): number | null {
  if (values.length === 0) return null;
  return values.reduce((sum, v) => sum + v, 0) / values.length;
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
