import { useQuery } from '@tanstack/react-query';
import { catalogueOptions } from '../../shared/api/catalogue';
import { CatalogueTable } from '../../features/catalogue/CatalogueTable';
import { OwnerForm } from '../../features/catalogue/OwnerForm';
import { useDocumentTitle } from '../../shared/ui/Brand';
import { ErrorMessage } from '../../shared/ui/ErrorMessage';

/**
 * The service catalogue: which team owns each service. An incident whose alert has no team label
 * takes its team from here when it opens. Changing it needs a token with the admin scope.
 */
export function CatalogueRoute() {
  const catalogue = useQuery(catalogueOptions());
  useDocumentTitle('Services');

  return (
    <div className="space-y-4">
      <h1 tabIndex={-1} className="text-xl font-semibold outline-none">
        Services
      </h1>
      <p className="max-w-prose text-sm text-muted">
        Which team owns each service. An incident whose alert has no <code>team</code> label takes its service&apos;s team
        from here when it opens; incidents already open keep theirs.
      </p>
      <OwnerForm />
      {catalogue.isError && <ErrorMessage error={catalogue.error} title="Could not load the catalogue" />}
      {catalogue.isPending && <p className="py-10 text-center text-muted">Loading the catalogue…</p>}
      {catalogue.data && <CatalogueTable entries={catalogue.data.items} />}
    </div>
  );
}
