import type { IncidentDetail } from '../../shared/api/types';
import { formatDateTime, formatDuration } from '../../shared/lib/format';

type Escalation = NonNullable<IncidentDetail['escalation']>;

/** Steps and passes are counted from 0 by the API and from 1 by people. */
function stepName(step: number, pass: number): string {
  return pass > 0 ? `step ${step + 1}, pass ${pass + 1}` : `step ${step + 1}`;
}

function target(page: Escalation['pages'][number]): string {
  if (page.user_id) return page.user_name ?? 'a person deleted since';
  if (page.channel) return page.channel;
  return 'nobody (no one to reach)';
}

/**
 * Where the incident's escalation stands (`escalation` of `GET /incidents/{id}`): the policy it
 * escalates on, who the current round paged, and the step that fires next and when. Nothing when
 * the incident never had one; "no policy" while none applies.
 */
export function EscalationStatus({ escalation, now }: { escalation: IncidentDetail['escalation']; now: number }) {
  if (!escalation) return null;
  const { policy, pages, next_step: next } = escalation;
  return (
    <section aria-labelledby="escalation" className="min-w-0 rounded-lg border border-line bg-surface p-4">
      <h2 id="escalation" className="mb-3 text-sm font-semibold tracking-wide text-muted uppercase">
        Escalation
      </h2>
      <dl className="grid grid-cols-[max-content_1fr] gap-x-4 gap-y-1.5 text-sm">
        <dt className="text-muted">Policy</dt>
        <dd className={`min-w-0 break-words ${policy ? 'font-medium' : 'text-muted'}`}>{policy ? `${policy.name} (version ${policy.version})` : 'no policy'}</dd>
        <dt className="text-muted">Next</dt>
        <dd className={`min-w-0 break-words ${next ? 'font-medium' : 'text-muted'}`}>
          {next
            ? `${stepName(next.step, next.pass)} at ${formatDateTime(next.at)}${Date.parse(next.at) > now ? ` (in ${formatDuration(Date.parse(next.at) - now)})` : ' (due now)'}`
            : 'nothing due'}
        </dd>
      </dl>
      <h3 className="mt-4 mb-1.5 text-sm font-medium">Paged this round</h3>
      {pages.length === 0 ? (
        <p className="text-sm text-muted">Nobody yet.</p>
      ) : (
        <ol className="space-y-1 text-sm">
          {pages.map((page, index) => (
            <li key={`${page.at}-${index}`} className={page.user_id || page.channel ? '' : 'text-danger'}>
              <span className="font-medium">{target(page)}</span>{' '}
              <span className="text-muted">
                {stepName(page.step, page.pass)}, {formatDateTime(page.at)}
              </span>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
