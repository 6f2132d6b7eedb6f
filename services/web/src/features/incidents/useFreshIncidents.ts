import { useEffect, useRef, useState } from 'react';
import type { Incident } from '../../shared/api/types';
import { pluralize } from '../../shared/lib/format';

const FRESH_MS = 8000;

/**
 * Incidents that appeared after the list first loaded: highlighted for a few seconds and
 * announced once, politely, in one sentence.
 */
export function useFreshIncidents(items: readonly Incident[] | undefined) {
  const seen = useRef<Set<string> | null>(null);
  const [fresh, setFresh] = useState<ReadonlySet<string>>(new Set());
  const [announcement, setAnnouncement] = useState('');
  const timers = useRef<ReturnType<typeof setTimeout>[]>([]);

  useEffect(() => () => timers.current.forEach(clearTimeout), []);

  useEffect(() => {
    if (!items) return;
    if (seen.current === null) {
      seen.current = new Set(items.map((i) => i.id));
      return;
    }
    const added = items.filter((i) => !seen.current!.has(i.id));
    if (added.length === 0) return;
    for (const item of added) seen.current.add(item.id);
    const ids = added.map((i) => i.id);
    setFresh((current) => new Set([...current, ...ids]));
    const first = added[0]!;
    setAnnouncement(
      added.length === 1
        ? `New ${first.severity} incident: ${first.title} (${first.service})`
        : `${pluralize(added.length, 'new incident')}, the first: ${first.title} (${first.service})`,
    );
    timers.current.push(
      setTimeout(() => {
        setFresh((current) => new Set([...current].filter((id) => !ids.includes(id))));
      }, FRESH_MS),
    );
  }, [items]);

  return { fresh, announcement };
}
