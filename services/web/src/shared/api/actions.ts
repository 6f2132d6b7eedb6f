// People's actions on an incident. Nothing is optimistic: incident-core owns the state machine,
// so the UI waits for the answer, then puts the returned incident into the caches.
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { learnIncidents } from './cache';
import { apiRequest } from './client';
import { incidentKeys } from './incidents';
import type { Incident, IncidentStatus, Severity } from './types';

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

export interface NoteRequest {
  id: string;
  /** Markdown, at most 8,192 bytes (the server refuses more, naming the field). */
  text: string;
  actor: string;
}

export function postNote({ id, text, actor }: NoteRequest): Promise<Incident> {
  return apiRequest<Incident>(`/incidents/${encodeURIComponent(id)}/notes`, { method: 'POST', body: { text, actor: actor || null } });
}

export interface EditRequest {
  id: string;
  /** Only the fields that change; the server leaves out what is the same anyway. */
  title?: string;
  severity?: Severity;
  actor: string;
}

export function postEdit({ id, title, severity, actor }: EditRequest): Promise<Incident> {
  return apiRequest<Incident>(`/incidents/${encodeURIComponent(id)}/edit`, {
    method: 'POST',
    body: { title: title ?? null, severity: severity ?? null, actor: actor || null },
  });
}

export function useIncidentAction() {
  return useIncidentMutation(postAction);
}

export function useAddNote() {
  return useIncidentMutation(postNote);
}

export function useEditIncident() {
  return useIncidentMutation(postEdit);
}

/** A request that answers with the incident after it: the caches learn it, and the timeline is read again. */
function useIncidentMutation<R extends { id: string }>(send: (request: R) => Promise<Incident>) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: send,
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
