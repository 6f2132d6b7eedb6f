import { useQuery } from '@tanstack/react-query';
import { ContactMethods } from '../../features/profile/ContactMethods';
import { NotificationRules } from '../../features/profile/NotificationRules';
import { contactMethodsOptions, notificationRulesOptions } from '../../shared/api/profile';
import { useSession } from '../../shared/lib/session';
import { useDocumentTitle } from '../../shared/ui/Brand';
import { ErrorMessage } from '../../shared/ui/ErrorMessage';

/**
 * The signed-in person's own paging settings: how they can be reached (contact methods, each with
 * a test page) and when each is used (notification rules). Only a person signed in with the
 * identity provider has them; `me` means nobody to a shared token.
 */
export function ProfileRoute() {
  const { person } = useSession();
  useDocumentTitle('Profile');
  return (
    <div className="max-w-4xl space-y-6">
      <div className="space-y-1">
        <h1 tabIndex={-1} className="text-xl font-semibold outline-none">
          Profile
        </h1>
        {person && (
          <p className="text-sm text-muted">
            {person.name}
            {person.email ? ` · ${person.email}` : ''}: how and when you are paged.
          </p>
        )}
      </div>
      {person ? (
        <MySettings />
      ) : (
        <p className="max-w-prose text-sm text-muted">
          Contact methods and notification rules belong to people signed in with the organisation&apos;s sign-in. You are using a shared
          token.
        </p>
      )}
    </div>
  );
}

function MySettings() {
  const methods = useQuery(contactMethodsOptions());
  const rules = useQuery(notificationRulesOptions());
  return (
    <>
      {methods.isError && <ErrorMessage error={methods.error} title="Could not load your contact methods" />}
      {rules.isError && <ErrorMessage error={rules.error} title="Could not load your notification rules" />}
      {(methods.isPending || rules.isPending) && <p className="py-10 text-center text-muted">Loading your settings…</p>}
      {methods.data && <ContactMethods methods={methods.data.items} />}
      {methods.data && rules.data && <NotificationRules rules={rules.data.items} methods={methods.data.items} />}
    </>
  );
}
