import { useQuery } from '@tanstack/react-query';
import { api, enc } from '../api.ts';
import type { NodeDetail, NodeStatus } from '../types.ts';
import { ErrorBox } from './ErrorBox.tsx';
import { Json, StatusBadge, Time } from './bits.tsx';

/** One node in full (GET /v1/executions/{id}/nodes/{nodeId}), fetched again whenever its status or attempts change. */
export function NodePanel({ executionId, node }: { executionId: string; node: NodeStatus }) {
  const detail = useQuery({
    queryKey: ['node', executionId, node.nodeId, node.status, node.attempts.length],
    queryFn: () => api.get<NodeDetail>(`/v1/executions/${enc(executionId)}/nodes/${enc(node.nodeId)}`),
    placeholderData: (prev) => (prev?.nodeId === node.nodeId ? prev : undefined),
  });
  const d = detail.data;
  return (
    <div className="node-panel" data-testid="node-panel">
      <h2>
        {node.title} <StatusBadge status={d?.status ?? node.status} />
      </h2>
      <p className="muted">
        {node.kind} · <code>{node.nodeId}</code>
      </p>
      <ErrorBox error={detail.error} />
      {d && (
        <>
          {d.waitingFor && (
            <p className="waiting" data-testid="waiting-for">
              Waiting for {d.waitingFor.reason}
              {d.waitingFor.host && <> on <code>{d.waitingFor.host}</code></>} until <Time at={d.waitingFor.until} />
              {d.waitingFor.errCode && <> (after <code>{d.waitingFor.errCode}</code>)</>}
            </p>
          )}
          {d.errCode && (
            <p className="err" data-testid="node-error">
              <code>{d.errCode}</code> {d.errorMessage}
            </p>
          )}
          <h3>Attempts</h3>
          {d.attempts.length === 0 ? (
            <p className="muted">No attempt yet.</p>
          ) : (
            <table className="list" aria-label="Attempts">
              <thead>
                <tr><th>#</th><th>Status</th><th>HTTP</th><th>Error</th><th>Started</th><th>Next attempt</th></tr>
              </thead>
              <tbody>
                {d.attempts.map((a) => (
                  <tr key={a.attempt} data-testid="attempt">
                    <td>{a.attempt}</td>
                    <td><StatusBadge status={a.status} /></td>
                    <td data-testid="attempt-http">{a.httpStatus ?? '—'}</td>
                    <td className="err">{a.errCode && <code>{a.errCode}</code>} {a.errorMessage}</td>
                    <td><Time at={a.startTime} /></td>
                    <td>{a.nextAttemptAt ? <>after {Math.round((a.retryDelayMs ?? 0) / 100) / 10} s, <Time at={a.nextAttemptAt} /></> : '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {d.attempts.length > 0 && (
            <>
              <h3>Input of attempt {d.attempts[d.attempts.length - 1]!.attempt}</h3>
              <Json value={d.attempts[d.attempts.length - 1]!.input ?? null} label="Node input" />
            </>
          )}
          <h3>Output</h3>
          <Json value={d.output} label="Node output" />
          {d.messages.length > 0 && (
            <>
              <h3>Messages</h3>
              <ol className="messages">
                {d.messages.map((m, i) => (
                  <li key={m.messageId ?? i}>
                    <span className="muted">{m.type}</span> <pre className="json">{m.content}</pre>
                  </li>
                ))}
              </ol>
            </>
          )}
          {d.files.length > 0 && (
            <>
              <h3>Files</h3>
              <ul>
                {d.files.map((f) => (
                  <li key={f.url}><a href={f.url}>{f.name}</a> ({f.type}, {f.size} bytes)</li>
                ))}
              </ul>
            </>
          )}
        </>
      )}
    </div>
  );
}
