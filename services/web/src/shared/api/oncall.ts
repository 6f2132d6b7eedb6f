// Who is on call (docs/api.md, "On-call schedules"): now in every schedule, a schedule with its
// layers and overrides, the shifts over a range, and taking a shift (an override).
import { queryOptions, useMutation, useQueryClient } from '@tanstack/react-query';
import { apiRequest } from './client';
import type { OnCall, Override, OverrideRequest, ScheduleDetail, ScheduleShifts } from './types';

export const oncallKeys = {
  now: ['oncall', 'now'] as const,
  schedule: (id: string) => ['schedules', id] as const,
  shifts: (id: string, from: string, until: string) => ['schedules', id, 'shifts', from, until] as const,
};

/** Who is on call now changes with the clock: asked again every minute while on screen. */
export function onCallNowOptions() {
  return queryOptions({
    queryKey: oncallKeys.now,
    queryFn: ({ signal }) => apiRequest<OnCall>('/oncall', { signal }),
    refetchInterval: 60_000,
  });
}

export function scheduleOptions(id: string) {
  return queryOptions({
    queryKey: oncallKeys.schedule(id),
    queryFn: ({ signal }) => apiRequest<ScheduleDetail>(`/schedules/${encodeURIComponent(id)}`, { signal }),
  });
}

/** The shifts from `from` to `until` (RFC 3339, at most 62 days apart). */
export function shiftsOptions(id: string, from: string, until: string) {
  return queryOptions({
    queryKey: oncallKeys.shifts(id, from, until),
    queryFn: ({ signal }) =>
      apiRequest<ScheduleShifts>(
        `/schedules/${encodeURIComponent(id)}/shifts?from=${encodeURIComponent(from)}&until=${encodeURIComponent(until)}`,
        { signal },
      ),
  });
}

/** An override of the schedule: the answer is what was stored (a `from` already past becomes now). */
export function useTakeShift(scheduleId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (request: OverrideRequest) =>
      apiRequest<Override>(`/schedules/${encodeURIComponent(scheduleId)}/overrides`, { method: 'POST', body: request }),
    onSuccess: () =>
      Promise.all([
        client.invalidateQueries({ queryKey: oncallKeys.schedule(scheduleId) }),
        client.invalidateQueries({ queryKey: oncallKeys.now }),
      ]),
  });
}
