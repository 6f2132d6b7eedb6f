import { describe, expect, it } from 'vitest';
import { makeIncident } from '../../testing/fixtures';
import { responseStats, timeToAcknowledge, timeToResolve } from './metrics';

const opened = '2026-11-26T20:00:00.000Z';
const at = (minutes: number) => new Date(Date.parse(opened) + minutes * 60_000).toISOString();

describe('response times', () => {
  it('measures from opened_at', () => {
    const incident = makeIncident({ opened_at: opened, acknowledged_at: at(3), resolved_at: at(45), status: 'resolved' });
    expect(timeToAcknowledge(incident)).toBe(3 * 60_000);
    expect(timeToResolve(incident)).toBe(45 * 60_000);
  });

  it('has no time to acknowledge for an incident nobody acknowledged', () => {
    expect(timeToAcknowledge(makeIncident({ resolved_at: at(10) }))).toBeNull();
  });

  it('computes MTTA over acknowledged incidents only, and MTTR over all', () => {
    const stats = responseStats([
      makeIncident({ opened_at: opened, acknowledged_at: at(2), resolved_at: at(10) }),
      makeIncident({ opened_at: opened, acknowledged_at: at(4), resolved_at: at(20) }),
      makeIncident({ opened_at: opened, acknowledged_at: null, resolved_at: at(60) }),
    ]);
    expect(stats.count).toBe(3);
    expect(stats.acknowledged).toBe(2);
    expect(stats.mtta).toBe(3 * 60_000);
    expect(stats.mttr).toBe(30 * 60_000);
    expect(stats.medianTtr).toBe(20 * 60_000);
  });

  it('gives no means for an empty set', () => {
    expect(responseStats([])).toEqual({ count: 0, acknowledged: 0, mtta: null, mttr: null, medianTtr: null });
  });

  it('never reports a negative time', () => {
    // An earlier alert can move opened_at back past an acknowledgement.
    expect(timeToAcknowledge(makeIncident({ opened_at: at(5), acknowledged_at: at(1) }))).toBe(0);
  });
});
