import { useQuery } from '@tanstack/react-query';
import { OnCallNow } from '../../features/oncall/OnCallNow';
import { onCallNowOptions } from '../../shared/api/oncall';
import { viewerTimeZone } from '../../shared/lib/format';
import { useDocumentTitle } from '../../shared/ui/Brand';
import { ErrorMessage } from '../../shared/ui/ErrorMessage';

/** Who is on call now in each team's schedules, and until when (`GET /oncall`). */
export function OnCallRoute() {
  const oncall = useQuery(onCallNowOptions());
  useDocumentTitle('On call');
  return (
    <div className="space-y-4">
      <div className="flex flex-wrap items-baseline gap-x-4 gap-y-1">
        <h1 tabIndex={-1} className="text-xl font-semibold outline-none">
          On call now
        </h1>
        <p className="text-sm text-muted">Times in your time zone, {viewerTimeZone()}.</p>
      </div>
      {oncall.isError && <ErrorMessage error={oncall.error} title="Could not load who is on call" />}
      {oncall.isPending && <p className="py-10 text-center text-muted">Loading who is on call…</p>}
      {oncall.data && <OnCallNow entries={oncall.data.items} />}
    </div>
  );
}
