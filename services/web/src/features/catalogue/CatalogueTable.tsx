import { Trash2 } from 'lucide-react';
import { useMemo, useState } from 'react';
import { useRemoveService } from '../../shared/api/catalogue';
import type { CatalogueEntry } from '../../shared/api/types';
import { formatDateTime } from '../../shared/lib/format';
import { Button } from '../../shared/ui/Button';
import { ErrorMessage } from '../../shared/ui/ErrorMessage';
import { Field } from '../../shared/ui/Field';

/** Every service with its team, narrowed by a search over both. */
export function CatalogueTable({ entries }: { entries: CatalogueEntry[] }) {
  const [search, setSearch] = useState('');
  const remove = useRemoveService();
  const shown = useMemo(() => {
    const needle = search.trim().toLowerCase();
    if (!needle) return entries;
    return entries.filter((entry) => entry.service.toLowerCase().includes(needle) || entry.team.toLowerCase().includes(needle));
  }, [entries, search]);

  return (
    <section aria-label="Services" className="space-y-3">
      <div className="max-w-sm">
        <Field label="Search services and teams" compact>
          {(id) => (
            <input
              id={id}
              type="search"
              value={search}
              onChange={(event) => setSearch(event.target.value)}
              className="rounded-md border border-line bg-surface px-2 py-1 text-sm"
            />
          )}
        </Field>
      </div>
      {remove.isError && <ErrorMessage error={remove.error} title="Could not remove the service" />}
      {shown.length === 0 ? (
        <p className="py-6 text-center text-muted">
          {entries.length === 0 ? 'No service is in the catalogue yet.' : 'No service or team matches the search.'}
        </p>
      ) : (
        <table className="w-full text-left text-sm">
          <thead className="text-xs text-muted">
            <tr>
              <th scope="col" className="py-1 pr-4 font-medium">Service</th>
              <th scope="col" className="py-1 pr-4 font-medium">Team</th>
              <th scope="col" className="py-1 pr-4 font-medium">Changed</th>
              <th scope="col" className="py-1 font-medium"><span className="sr-only">Actions</span></th>
            </tr>
          </thead>
          <tbody>
            {shown.map((entry) => (
              <tr key={entry.service} className="border-t border-line">
                <th scope="row" className="max-w-[32ch] truncate py-1.5 pr-4 font-mono font-normal" title={entry.service}>
                  {entry.service}
                </th>
                <td className="py-1.5 pr-4">{entry.team}</td>
                <td className="py-1.5 pr-4 text-muted">
                  {formatDateTime(entry.updated_at)} by {entry.updated_by}
                </td>
                <td className="py-1.5 text-right">
                  <Button
                    variant="ghost"
                    aria-label={`Remove ${entry.service}`}
                    disabled={remove.isPending}
                    onClick={() => remove.mutate(entry.service)}
                  >
                    <Trash2 aria-hidden="true" className="size-4" />
                  </Button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
