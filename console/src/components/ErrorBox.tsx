import { ApiError } from '../api.ts';

export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  if (error instanceof ApiError) {
    return (
      <p role="alert" className="error">
        <code>{error.code}</code> {error.message}
        {error.traceId && <span className="trace"> (trace {error.traceId})</span>}
      </p>
    );
  }
  return <p role="alert" className="error">{error instanceof Error ? error.message : String(error)}</p>;
}
