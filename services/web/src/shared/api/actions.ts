// People's actions on an incident. Nothing is optimistic: incident-core owns the state machine,
// so the UI waits for the answer, then puts the returned incident into the caches.
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { learnIncidents } from './cache';
import { apiRequest } from './client';
import { incidentKeys } from './incidents';
import type { Incident, IncidentStatus } from './types';

export type ActionKind = 'acknowledge' | 'resolve' | 'reopen' | 'assign';

export interface ActionRequest {
  id: string;
  kind: ActionKind;
  actor: string;
  /** For `assign`: who; empty clears the assignment. */
  assignee?: string;
}

/** The moves incident-core allows from each status (docs/api.md, Actions). */
export function canAct(status: IncidentStatus, kind: ActionKind): boolean {
  switch (kind) {
    case 'acknowledge':
      return status === 'open';
    case 'resolve':
      return status === 'open' || status === 'acknowledged';
    case 'reopen':
      return status === 'resolved';
    case 'assign':
      return true;
  }
}

export function postAction({ id, kind, actor, assignee }: ActionRequest): Promise<Incident> {
  const body =
    kind === 'assign' ? { assignee: assignee?.trim() || null, actor: actor || null } : { actor: actor || null };
  return apiRequest<Incident>(`/incidents/${encodeURIComponent(id)}/${kind}`, { method: 'POST', body });
}

export function useIncidentAction() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: postAction,
    onSuccess: (incident) => {
      learnIncidents(client, [incident]);
      // The timeline gained an entry.
      void client.invalidateQueries({ queryKey: incidentKeys.detail(incident.id) });
    },
    onError: (_error, request) => {
      // A conflict means our copy is old: show the incident as it is now.
      void client.invalidateQueries({ queryKey: incidentKeys.detail(request.id) });
    },
  });
}
