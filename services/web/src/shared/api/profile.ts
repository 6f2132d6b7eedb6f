// The signed-in person's contact methods and notification rules (docs/api.md, "Contact methods and
// notification rules"), always as `me`: listed, added, turned off and on, removed, and a test page
// sent to a method.
import { queryOptions, useMutation, useQueryClient } from '@tanstack/react-query';
import { ApiError, apiRequest } from './client';
import type {
  ContactMethod,
  ContactMethodList,
  ContactMethodRequest,
  NotificationRule,
  NotificationRuleList,
  NotificationRuleRequest,
  TestPageAnswer,
} from './types';

export const profileKeys = {
  methods: ['profile', 'contact-methods'] as const,
  rules: ['profile', 'notification-rules'] as const,
};

export function contactMethodsOptions() {
  return queryOptions({
    queryKey: profileKeys.methods,
    queryFn: ({ signal }) => apiRequest<ContactMethodList>('/users/me/contact-methods', { signal }),
  });
}

export function notificationRulesOptions() {
  return queryOptions({
    queryKey: profileKeys.rules,
    queryFn: ({ signal }) => apiRequest<NotificationRuleList>('/users/me/notification-rules', { signal }),
  });
}

export function useAddContactMethod() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (request: ContactMethodRequest) => apiRequest<ContactMethod>('/users/me/contact-methods', { method: 'POST', body: request }),
    onSuccess: () => client.invalidateQueries({ queryKey: profileKeys.methods }),
  });
}

/** Removing a method removes its rules too, so both lists are asked again. */
export function useRemoveContactMethod() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => apiRequest<void>(`/users/me/contact-methods/${encodeURIComponent(id)}`, { method: 'DELETE' }),
    onSuccess: () =>
      Promise.all([client.invalidateQueries({ queryKey: profileKeys.methods }), client.invalidateQueries({ queryKey: profileKeys.rules })]),
  });
}

/** Turns a method off (no page goes through it; its rules stay) or on again. */
export function useSetContactMethodDisabled() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ id, disabled }: { id: string; disabled: boolean }) =>
      apiRequest<ContactMethod>(`/users/me/contact-methods/${encodeURIComponent(id)}`, { method: 'PATCH', body: { disabled } }),
    onSuccess: () => client.invalidateQueries({ queryKey: profileKeys.methods }),
  });
}

export function useTestContactMethod() {
  return useMutation({
    mutationFn: (id: string) => apiRequest<TestPageAnswer>(`/users/me/contact-methods/${encodeURIComponent(id)}/test`, { method: 'POST' }),
  });
}

export function useAddNotificationRule() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (request: NotificationRuleRequest) =>
      apiRequest<NotificationRule>('/users/me/notification-rules', { method: 'POST', body: request }),
    onSuccess: () => client.invalidateQueries({ queryKey: profileKeys.rules }),
  });
}

export function useRemoveNotificationRule() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => apiRequest<void>(`/users/me/notification-rules/${encodeURIComponent(id)}`, { method: 'DELETE' }),
    onSuccess: () => client.invalidateQueries({ queryKey: profileKeys.rules }),
  });
}

/**
 * Which of `fields` a refusal is about. The API's 400 for a body starts its message with the
 * field's name (`address must be a phone number in E.164 form, …`, `delay_minutes is 121; …`), so
 * the message can be shown under that field; null when it names none of them.
 */
export function refusedField<F extends string>(error: unknown, fields: readonly F[]): F | null {
  if (!(error instanceof ApiError) || error.status !== 400) return null;
  return fields.find((field) => error.message === field || error.message.startsWith(`${field} `) || error.message.startsWith(`${field}:`)) ?? null;
}
