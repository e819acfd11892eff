import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Link, useParams } from 'react-router';
import { api, enc } from '../api.ts';
import { Dag } from '../components/Dag.tsx';
import { ErrorBox } from '../components/ErrorBox.tsx';
import { NodePanel } from '../components/NodePanel.tsx';
import { Json, Section, StatusBadge, Time } from '../components/bits.tsx';
import { pollWithBackoff, TERMINAL } from '../hooks.ts';
import { useCan } from '../session.tsx';
import type { ExecutionStatusView, NodeStatus } from '../types.ts';

/** Skipped nodes come back as Refly's `finish` with `flowgateStatus: "skipped"`; the console shows Flowgate's word. */
const nodeStatus = (n: NodeStatus) => n.flowgateStatus ?? n.status;

export function RunDetail() {
  const { executionId = '' } = useParams();
  const qc = useQueryClient();
  const canRun = useCan('run');
  const [selected, setSelected] = useState<string | undefined>();
  const base = `/v1/openapi/workflow/${enc(executionId)}`;

  const status = useQuery({
    queryKey: ['status', executionId],
    queryFn: () => api.get<ExecutionStatusView>(`${base}/status`),
    refetchInterval: (q) => (q.state.data && TERMINAL.has(q.state.data.status) ? false : pollWithBackoff(1000)(q)),
  });
  const ended = status.data ? TERMINAL.has(status.data.status) : false;
  const timeline = useQuery({
    queryKey: ['timeline', executionId, status.data?.status, status.dataUpdatedAt],
    queryFn: () => api.get<{ timeline: Record<string, unknown>[]; trigger: Record<string, unknown>; waiting: unknown[] }>(`${base}/timeline`),
    enabled: !!status.data,
    placeholderData: (prev) => prev,
  });
  const output = useQuery({
    queryKey: ['output', executionId, status.data?.status],
    queryFn: () => api.get<{ output: { nodeId: string; title: string; value: unknown }[]; files: { name: string; url: string; size: number }[] }>(`${base}/output`),
    enabled: ended,
  });
  const refresh = () => qc.invalidateQueries({ queryKey: ['status', executionId] });
  const abort = useMutation({ mutationFn: () => api.post(`${base}/abort`), onSuccess: refresh });
  const retry = useMutation({ mutationFn: () => api.post<{ retried: boolean }>(`${base}/retry`), onSuccess: refresh });

  if (status.error) return <ErrorBox error={status.error} />;
  const s = status.data;
  if (!s) return <p className="loading">Loading {executionId}…</p>;
  const sel = s.nodeExecutions.find((n) => n.nodeId === selected);

  return (
    <>
      <h1>
        Run <code>{s.executionId}</code> <StatusBadge status={s.status} />
      </h1>
      <dl className="facts">
        <dt>Workflow</dt>
        <dd><Link to={`/workflows/${enc(s.canvasId)}`}>{s.canvasId}</Link> v{s.version}</dd>
        <dt>Trigger</dt>
        <dd>{s.trigger}</dd>
        <dt>Created</dt>
        <dd><Time at={s.createdAt} /></dd>
        <dt>Finished</dt>
        <dd><Time at={s.finishedAt} /></dd>
        {s.errCode && (
          <>
            <dt>Error</dt>
            <dd className="err" data-testid="run-error"><code>{s.errCode}</code> {s.errMsg}</dd>
          </>
        )}
      </dl>
      {canRun && (
        <div className="actions">
          {!ended && <button type="button" onClick={() => abort.mutate()} disabled={abort.isPending}>Abort</button>}
          {s.status === 'failed' && (
            <button type="button" onClick={() => retry.mutate()} disabled={retry.isPending} title="Resume from the failed nodes; finished nodes keep their results">Retry</button>
          )}
        </div>
      )}
      <ErrorBox error={abort.error ?? retry.error} />
      <div className="run-grid">
        <div>
          <Dag
            nodes={s.nodeExecutions.map((n) => ({ id: n.nodeId, title: n.title, kind: n.kind, status: nodeStatus(n), dependsOn: n.dependsOn ?? [] }))}
            selected={selected}
            onSelect={setSelected}
          />
          <ul className="node-list" aria-label="Nodes">
            {s.nodeExecutions.map((n) => (
              <li key={n.nodeId}>
                <button type="button" aria-pressed={selected === n.nodeId} onClick={() => setSelected(n.nodeId)} data-node={n.nodeId}>
                  <StatusBadge status={nodeStatus(n)} /> {n.title} <span className="muted">{n.kind}</span>
                  {n.waitingFor && <span className="muted"> · waiting for {n.waitingFor.reason}</span>}
                </button>
              </li>
            ))}
          </ul>
        </div>
        <aside aria-label="Node detail">
          {sel ? <NodePanel executionId={s.executionId} node={sel} /> : <p className="muted">Select a node to see its input, output and attempts.</p>}
        </aside>
      </div>
      {ended && output.data && (
        <Section title="Output">
          <Json value={output.data.output.map((o) => ({ nodeId: o.nodeId, value: o.value }))} label="Run output" />
          {output.data.files.length > 0 && (
            <ul>
              {output.data.files.map((f) => (
                <li key={f.url}><a href={f.url}>{f.name}</a> ({f.size} bytes)</li>
              ))}
            </ul>
          )}
        </Section>
      )}
      <Section title="Timeline">
        <ErrorBox error={timeline.error} />
        {timeline.data && (
          <table className="list" aria-label="Timeline">
            <thead>
              <tr><th>Time</th><th>Event</th><th>Node</th><th>Detail</th></tr>
            </thead>
            <tbody>
              {timeline.data.timeline.map((t, i) => (
                <tr key={i}>
                  <td><Time at={t.time as string} /></td>
                  <td>{String(t.type)}</td>
                  <td>{(t.nodeId as string) ?? ''}</td>
                  <td className="small">{timelineDetail(t)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
    </>
  );
}

function timelineDetail(t: Record<string, unknown>): string {
  const parts: string[] = [];
  if (t.attempt !== undefined) parts.push(`attempt ${t.attempt}`);
  if (t.status) parts.push(String(t.status));
  if (t.eventType) parts.push(String(t.eventType));
  if (t.httpStatus) parts.push(`HTTP ${t.httpStatus}`);
  if (t.errCode) parts.push(String(t.errCode));
  if (t.errorMessage ?? t.errMsg) parts.push(String(t.errorMessage ?? t.errMsg));
  if (t.nextAttemptAt) parts.push(`next attempt ${new Date(String(t.nextAttemptAt)).toLocaleTimeString()}`);
  return parts.join(' · ');
}
