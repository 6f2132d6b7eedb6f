import { TriangleAlert } from 'lucide-react';
import { ApiError } from '../api/client';

export function errorText(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}

export function ErrorMessage({ error, title }: { error: unknown; title?: string }) {
  return (
    <div role="alert" className="flex items-start gap-2 rounded-md border border-danger/40 bg-danger-bg px-3 py-2 text-sm text-danger">
      <TriangleAlert aria-hidden="true" className="mt-0.5 size-4 shrink-0" />
      <p>
        {title && <strong className="font-semibold">{title}: </strong>}
        {errorText(error)}
      </p>
    </div>
  );
}
