import { TriangleAlert } from 'lucide-react';
import { ApiError } from '../api/client';
import { Notice } from './Notice';

export function errorText(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}

export function ErrorMessage({ error, title }: { error: unknown; title?: string }) {
  return (
    <Notice tone="error" className="flex items-start gap-2">
      <TriangleAlert aria-hidden="true" className="mt-0.5 size-4 shrink-0" />
      <p>
        {title && <strong className="font-semibold">{title}: </strong>}
        {errorText(error)}
      </p>
    </Notice>
  );
}
