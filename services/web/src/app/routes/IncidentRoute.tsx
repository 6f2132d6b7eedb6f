import { useQuery } from '@tanstack/react-query';
import { ArrowLeft } from 'lucide-react';
import { Link, useParams } from 'react-router';
import { IncidentView } from '../../features/incident-detail/IncidentView';
import { ApiError } from '../../shared/api/client';
import { usePollInterval } from '../../shared/api/connection';
import { incidentDetailOptions } from '../../shared/api/incidents';
import { useDocumentTitle } from '../../shared/ui/Brand';
import { ErrorMessage } from '../../shared/ui/ErrorMessage';

export function IncidentRoute() {
  const { id = '' } = useParams();
  const detail = useQuery({ ...incidentDetailOptions(id), refetchInterval: usePollInterval() });

  useDocumentTitle(detail.data?.title ?? 'Incident');

  return (
    <div className="space-y-3">
      <Link to="/" className="inline-flex items-center gap-1 text-sm text-accent hover:underline">
        <ArrowLeft aria-hidden="true" className="size-4" /> All incidents
      </Link>
      {detail.data ? (
        <IncidentView incident={detail.data} />
      ) : detail.isError ? (
        <>
          <h1 tabIndex={-1} className="text-xl font-semibold outline-none">
            {detail.error instanceof ApiError && detail.error.status === 404 ? 'No such incident' : 'Incident'}
          </h1>
          <ErrorMessage error={detail.error} />
        </>
      ) : (
        <h1 tabIndex={-1} className="py-10 text-center text-muted outline-none">
          Loading incident…
        </h1>
      )}
    </div>
  );
}
