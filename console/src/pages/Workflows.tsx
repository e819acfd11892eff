import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { Link } from 'react-router';
import { api, enc } from '../api.ts';
import { ErrorBox } from '../components/ErrorBox.tsx';
import { PagePager } from '../components/PagePager.tsx';
import { Time } from '../components/bits.tsx';
import type { WorkflowSummary } from '../types.ts';

export function Workflows() {
  const [page, setPage] = useState(1);
  const list = useQuery({
    queryKey: ['workflows', page],
    queryFn: () => api.get<{ workflows: WorkflowSummary[]; total: number; pageSize: number }>('/v1/workflows', { page, pageSize: 50 }),
    placeholderData: (prev) => prev,
  });
  return (
    <>
      <h1>Workflows</h1>
      <ErrorBox error={list.error} />
      {list.data && (
        <>
          <table className="list" aria-label="Workflows">
            <thead>
              <tr><th>Title</th><th>canvasId</th><th>Version</th><th>Updated</th><th>Runs</th></tr>
            </thead>
            <tbody>
              {list.data.workflows.map((w) => (
                <tr key={w.canvasId}>
                  <td><Link to={`/workflows/${enc(w.canvasId)}`}>{w.title}</Link></td>
                  <td><code>{w.canvasId}</code></td>
                  <td>{w.version}</td>
                  <td><Time at={w.updatedAt} /></td>
                  <td><Link to={`/?canvasId=${enc(w.canvasId)}`}>runs</Link></td>
                </tr>
              ))}
            </tbody>
          </table>
          {list.data.workflows.length === 0 && (
            <p className="muted">No workflows yet: <code>POST /v1/workflows</code> with a definition, or start the server with <code>--workflows dir</code>.</p>
          )}
          <PagePager page={page} pageSize={list.data.pageSize} total={list.data.total} onChange={setPage} />
        </>
      )}
    </>
  );
}
