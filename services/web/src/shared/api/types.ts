// The API's types, from the OpenAPI document that query serves (`npm run gen:api` regenerates
// schema.d.ts). The stream's event is not in that document; its shape is written out below.
import type { components } from './schema';

type Schemas = components['schemas'];

export type Incident = Schemas['Incident'];
/** The incident with the first page of its alerts and of its timeline, and where each goes on. */
export type IncidentDetail = Schemas['IncidentDetail'];
export type AlertPage = Schemas['AlertPage'];
export type TimelinePage = Schemas['TimelinePage'];
export type AlertRecord = Schemas['AlertRecord'];
export type TimelineEntry = Schemas['TimelineEntry'];
export type IncidentPage = Schemas['IncidentPage'];
export type Severity = Schemas['Severity'];
export type IncidentStatus = Schemas['IncidentStatus'];
export type EventKind = Schemas['EventKind'];
export type CatalogueEntry = Schemas['CatalogueEntry'];
export type Catalogue = Schemas['Catalogue'];
export type ImportSummary = Schemas['ImportSummary'];
/** `GET /auth/status`: who is signed in with the identity provider, and whether query offers it. */
export type SignInStatus = Schemas['Status'];
export type LoggedOut = Schemas['LoggedOut'];
export type PersonalToken = Schemas['Token'];
export type TokenList = Schemas['TokenList'];
export type MadeToken = Schemas['MadeToken'];
/** `GET /oncall`: who is on call now in each schedule. */
export type OnCall = Schemas['OnCall'];
export type OnCallEntry = Schemas['OnCallEntry'];
export type ScheduleSummary = Schemas['ScheduleSummary'];
export type ScheduleDetail = Schemas['ScheduleDetail'];
/** `GET /schedules/{id}/shifts`: the final result, its gaps, each layer's shifts and the overrides. */
export type ScheduleShifts = Schemas['ScheduleShifts'];
export type Shift = Schemas['ShiftView'];
export type Gap = Schemas['Gap'];
export type OverrideRequest = Schemas['OverrideRequest'];
export type Override = Schemas['OverrideView'];
export type ContactMethod = Schemas['ContactMethodView'];
export type ContactMethodRequest = Schemas['ContactMethodRequest'];
export type ContactMethodList = Schemas['ContactMethodList'];
export type NotificationRule = Schemas['NotificationRuleView'];
export type NotificationRuleRequest = Schemas['NotificationRuleRequest'];
export type NotificationRuleList = Schemas['NotificationRuleList'];
export type TestPageAnswer = Schemas['TestPageAnswer'];

/** Most urgent first. */
export const SEVERITIES: readonly Severity[] = ['critical', 'high', 'warning', 'info'];
export const STATUSES: readonly IncidentStatus[] = ['open', 'acknowledged', 'resolved'];

/** Higher is more urgent. */
export function severityRank(severity: Severity): number {
  return 3 - SEVERITIES.indexOf(severity);
}

/** One message of `GET /events` (`event: incident`). */
export interface IncidentEvent {
  id: string;
  kind: EventKind;
  at: string;
  actor: string;
  incident: Incident;
  detail: Record<string, unknown>;
}
