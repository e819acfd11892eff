import { useQuery } from '@tanstack/react-query';
import { Link, useSearchParams } from 'react-router';
import { api } from '../api.ts';
import { CursorPager } from '../components/CursorPager.tsx';
import { ErrorBox } from '../components/ErrorBox.tsx';
import { StatusBadge, Time, Duration } from '../components/bits.tsx';
import { pollWithBackoff, useWorkflowOptions } from '../hooks.ts';
import type { ExecStatus, ExecutionSummary, Page } from '../types.ts';

const STATUSES: ExecStatus[] = ['init', 'executing', 'finish', 'failed'];
const TRIGGERS = ['api', 'webhook', 'cli', 'mcp', 'retry', 'schedule'];

/** datetime-local has no zone; the API takes ISO 8601 instants. */
const toIso = (local: string | null) => (local ? new Date(local).toISOString() : undefined);

export function RunFilters({ params, set, showStatus = true }: { params: URLSearchParams; set: (k: string, v: string) => void; showStatus?: boolean }) {
  const workflows = useWorkflowOptions();
  return (
    <form className="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filters">
      <label>
        Workflow
        <select value={params.get('canvasId') ?? ''} onChange={(e) => set('canvasId', e.target.value)}>
          <option value="">all</option>
          {workflows.data?.workflows.map((w) => (
            <option key={w.canvasId} value={w.canvasId}>{w.title} ({w.canvasId})</option>
          ))}
        </select>
      </label>
      {showStatus && (
        <label>
          Status
          <select value={params.get('status') ?? ''} onChange={(e) => set('status', e.target.value)}>
            <option value="">all</option>
            {STATUSES.map((s) => <option key={s}>{s}</option>)}
          </select>
        </label>
      )}
      <label>
        Trigger
        <select value={params.get('trigger') ?? ''} onChange={(e) => set('trigger', e.target.value)}>
          <option value="">all</option>
          {TRIGGERS.map((s) => <option key={s}>{s}</option>)}
        </select>
      </label>
      <label>
        Since
        <input type="datetime-local" value={params.get('since') ?? ''} onChange={(e) => set('since', e.target.value)} />
      </label>
      <label>
        Until
        <input type="datetime-local" value={params.get('until') ?? ''} onChange={(e) => set('until', e.target.value)} />
      </label>
    </form>
  );
}

export function useFilterParams() {
  const [params, setParams] = useSearchParams();
  const set = (k: string, v: string) => {
    const p = new URLSearchParams(params);
    if (v) p.set(k, v);
    else p.delete(k);
    p.delete('cursors');
    setParams(p, { replace: true });
  };
  const stack = params.get('cursors')?.split(',').filter(Boolean) ?? [];
  const setStack = (s: string[]) => {
    const p = new URLSearchParams(params);
    if (s.length) p.set('cursors', s.join(','));
    else p.delete('cursors');
    setParams(p);
  };
  const filters = {
    canvasId: params.get('canvasId') ?? undefined,
    trigger: params.get('trigger') ?? undefined,
    since: toIso(params.get('since')),
    until: toIso(params.get('until')),
  };
  return { params, set, stack, setStack, filters };
}

/** `stale`: the rows are the previous filter's, shown while the new ones load. */
export function RunTable({ records, stale = false }: { records: ExecutionSummary[]; stale?: boolean }) {
  if (records.length === 0) return <p className="muted" aria-busy={stale}>No runs match.</p>;
  return (
    <table className={`list${stale ? ' stale' : ''}`} aria-label="Runs" aria-busy={stale}>
      <thead>
        <tr>
          <th>Execution</th>
          <th>Workflow</th>
          <th>Status</th>
          <th>Trigger</th>
          <th>Created</th>
          <th>Took</th>
          <th>Error</th>
        </tr>
      </thead>
      <tbody>
        {records.map((r) => (
          <tr key={r.executionId} data-status={r.status}>
            <td><Link to={`/runs/${r.executionId}`}>{r.executionId}</Link></td>
            <td>{r.canvasId}</td>
            <td><StatusBadge status={r.status} /></td>
            <td>{r.trigger}</td>
            <td><Time at={r.createdAt} /></td>
            <td><Duration from={r.startedAt ?? r.createdAt} to={r.finishedAt} /></td>
            <td className="err">{r.errCode && <code>{r.errCode}</code>} {r.errMsg}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function Runs() {
  const { params, set, stack, setStack, filters } = useFilterParams();
  const status = params.get('status') ?? undefined;
  const cursor = stack[stack.length - 1];
  const runs = useQuery({
    queryKey: ['executions', filters, status, cursor],
    queryFn: () => api.get<Page<ExecutionSummary>>('/v1/executions', { ...filters, status, cursor, limit: 50 }),
    // Only the newest page moves; older pages are history.
    refetchInterval: cursor ? false : pollWithBackoff(2000),
    placeholderData: (prev) => prev,
  });
  const counts = useQuery({
    queryKey: ['execution-counts', filters],
    queryFn: () => api.get<{ counts: Record<ExecStatus, number>; capped: string[] }>('/v1/executions/counts', filters),
    refetchInterval: pollWithBackoff(5000),
  });
  return (
    <>
      <h1>Runs</h1>
      <div className="counts" aria-label="Runs per status">
        {STATUSES.map((s) => (
          <button key={s} type="button" className={`count st-${s}${status === s ? ' active' : ''}`} onClick={() => set('status', status === s ? '' : s)} aria-pressed={status === s}>
            <span className="n" data-testid={`count-${s}`}>
              {counts.data ? `${counts.data.counts[s]}${counts.data.capped.includes(s) ? '+' : ''}` : '…'}
            </span>{' '}
            {s}
          </button>
        ))}
      </div>
      <RunFilters params={params} set={set} />
      <ErrorBox error={runs.error} />
      {runs.data && <RunTable records={runs.data.records} stale={runs.isPlaceholderData} />}
      <CursorPager stack={stack} next={runs.data?.nextCursor} onChange={setStack} />
    </>
  );
}
