import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api } from '../api.ts';
import { CursorPager } from '../components/CursorPager.tsx';
import { ErrorBox } from '../components/ErrorBox.tsx';
import { useCan } from '../session.tsx';
import type { ExecutionSummary, Page } from '../types.ts';
import { RunFilters, RunTable, useFilterParams } from './Runs.tsx';

/** Failed runs (the dead letter): filtered by workflow and time, replayed in bulk with POST /v1/executions/retry. */
export function DeadLetter() {
  const qc = useQueryClient();
  const isAdmin = useCan('admin');
  const { params, set, stack, setStack, filters } = useFilterParams();
  const cursor = stack[stack.length - 1];
  const failed = useQuery({
    queryKey: ['executions', filters, 'failed', cursor],
    queryFn: () => api.get<Page<ExecutionSummary>>('/v1/executions', { ...filters, status: 'failed', cursor, limit: 50 }),
    placeholderData: (prev) => prev,
  });
  const replay = useMutation({
    mutationFn: () =>
      api.post<{ retried: number; executionIds: string[]; more: boolean }>('/v1/executions/retry', {
        status: 'failed',
        ...(filters.canvasId ? { canvasId: filters.canvasId } : {}),
        ...(filters.since ? { since: filters.since } : {}),
        ...(filters.until ? { until: filters.until } : {}),
        limit: 1000,
      }),
    onSuccess: () => qc.invalidateQueries({ queryKey: ['executions'] }),
  });
  const scope = [filters.canvasId ?? 'every workflow', filters.since && `since ${new Date(filters.since).toLocaleString()}`, filters.until && `until ${new Date(filters.until).toLocaleString()}`]
    .filter(Boolean)
    .join(', ');
  return (
    <>
      <h1>Failed runs</h1>
      <RunFilters params={params} set={set} showStatus={false} />
      {isAdmin && (
        <div className="actions">
          <button type="button" disabled={replay.isPending || failed.data?.records.length === 0} onClick={() => window.confirm(`Retry the failed runs of ${scope} (up to 1000, newest first)?`) && replay.mutate()}>
            Retry all matching
          </button>
        </div>
      )}
      {replay.data && (
        <p role="status" data-testid="bulk-result">
          Retried {replay.data.retried} run(s){replay.data.more ? '; more remain, press again for the next 1000' : ''}.
        </p>
      )}
      <ErrorBox error={failed.error ?? replay.error} />
      {failed.data && <RunTable records={failed.data.records} stale={failed.isPlaceholderData} />}
      <CursorPager stack={stack} next={failed.data?.nextCursor} onChange={setStack} />
    </>
  );
}
