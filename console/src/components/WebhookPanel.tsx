import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import { api, enc } from '../api.ts';
import type { Webhook, WebhookCall } from '../types.ts';
import { ErrorBox } from './ErrorBox.tsx';
import { PagePager } from './PagePager.tsx';
import { CopyButton, Json, Section, StatusBadge, Time } from './bits.tsx';
import { pollWithBackoff } from '../hooks.ts';

/** A workflow's webhook: its URL, switches, settings and every call it received. */
export function WebhookPanel({ canvasId }: { canvasId: string }) {
  const qc = useQueryClient();
  const config = useQuery({
    queryKey: ['webhook', canvasId],
    // A workflow without a webhook answers success with no data, as Refly does.
    queryFn: async () => (await api.get<Webhook | undefined>('/v1/webhook/config', { canvasId })) ?? null,
  });
  const done = () => qc.invalidateQueries({ queryKey: ['webhook', canvasId] });
  const enable = useMutation({ mutationFn: () => api.post('/v1/webhook/enable', { canvasId }), onSuccess: done });
  const disable = useMutation({ mutationFn: (webhookId: string) => api.post('/v1/webhook/disable', { webhookId }), onSuccess: done });
  const reset = useMutation({ mutationFn: (webhookId: string) => api.post('/v1/webhook/reset', { webhookId }), onSuccess: done });
  const w = config.data;
  return (
    <Section
      title="Webhook"
      actions={
        <>
          {(!w || !w.isEnabled) && <button type="button" onClick={() => enable.mutate()} disabled={enable.isPending}>Enable webhook</button>}
          {w?.isEnabled && <button type="button" onClick={() => disable.mutate(w.webhookId)}>Disable</button>}
          {w && (
            <button
              type="button"
              onClick={() => window.confirm('Replace the webhook URL? The current one stops working at once.') && reset.mutate(w.webhookId)}
            >
              Reset URL
            </button>
          )}
        </>
      }
    >
      <ErrorBox error={config.error ?? enable.error ?? disable.error ?? reset.error} />
      {w === null && <p className="muted">This workflow has no webhook yet.</p>}
      {w && (
        <>
          <p className="webhook-url">
            <code data-testid="webhook-url">{w.webhookUrl}</code> <CopyButton text={w.webhookUrl} label="Copy URL" />{' '}
            <StatusBadge status={w.isEnabled ? 'enabled' : 'disabled'} />
          </p>
          <p className="muted">Anyone with this URL can start runs: treat it as a secret.</p>
          <WebhookSettings key={w.webhookId + String(w.timeout) + w.bodyMode} w={w} onSaved={done} />
          <WebhookHistory webhookId={w.webhookId} />
        </>
      )}
    </Section>
  );
}

function WebhookSettings({ w, onSaved }: { w: Webhook; onSaved: () => void }) {
  const [timeout, setTimeoutS] = useState(String(w.timeout));
  const [bodyMode, setBodyMode] = useState(w.bodyMode);
  const [rawVariable, setRawVariable] = useState(w.rawVariable ?? '');
  const [expectedEvery, setExpectedEvery] = useState(w.expectedEvery ? String(w.expectedEvery) : '');
  const [forwardHeaders, setForwardHeaders] = useState((w.forwardHeaders ?? []).join(', '));
  const save = useMutation({
    mutationFn: () =>
      api.post('/v1/webhook/update', {
        webhookId: w.webhookId,
        timeout: Number(timeout),
        bodyMode,
        ...(bodyMode === 'raw' && rawVariable ? { rawVariable } : {}),
        ...(expectedEvery ? { expectedEvery: Number(expectedEvery) } : {}),
        forwardHeaders: forwardHeaders.split(/[\s,]+/).filter(Boolean),
      }),
    onSuccess: onSaved,
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    save.mutate();
  };
  return (
    <details>
      <summary>Settings</summary>
      <form className="settings" onSubmit={submit} aria-label="Webhook settings">
        <label>
          Wait for the run (s, 0–60)
          <input type="number" min={0} max={60} value={timeout} onChange={(e) => setTimeoutS(e.target.value)} />
        </label>
        <label>
          Body
          <select value={bodyMode} onChange={(e) => setBodyMode(e.target.value)}>
            <option value="variables">variables: {'{"variables": {…}}'}</option>
            <option value="raw">raw: the whole body into one variable</option>
          </select>
        </label>
        {bodyMode === 'raw' && (
          <label>
            Variable for the raw body
            <input value={rawVariable} onChange={(e) => setRawVariable(e.target.value)} />
          </label>
        )}
        <label>
          Expected every (s; a longer silence emits webhook.silent)
          <input type="number" min={1} value={expectedEvery} onChange={(e) => setExpectedEvery(e.target.value)} />
        </label>
        <label>
          Headers passed to runs as trigger.headers
          <input value={forwardHeaders} onChange={(e) => setForwardHeaders(e.target.value)} placeholder="X-GitHub-Event, X-Request-Id" />
        </label>
        <p className="muted">Signature checking, rate limits and dedupe are set through <code>POST /v1/webhook/update</code> (docs/webhooks.md).</p>
        <button type="submit" disabled={save.isPending}>Save settings</button>
        {save.isSuccess && <span role="status"> Saved.</span>}
        <ErrorBox error={save.error} />
      </form>
    </details>
  );
}

function WebhookHistory({ webhookId }: { webhookId: string }) {
  const [page, setPage] = useState(1);
  const [open, setOpen] = useState<string | undefined>();
  const history = useQuery({
    queryKey: ['webhook-history', webhookId, page],
    queryFn: () => api.get<{ records: WebhookCall[]; total: number; pageSize: number }>('/v1/webhook/history', { webhookId, page, pageSize: 20 }),
    refetchInterval: page === 1 ? pollWithBackoff(5000) : false,
    placeholderData: (prev) => prev,
  });
  return (
    <>
      <h3>Calls</h3>
      <ErrorBox error={history.error} />
      {history.data && history.data.records.length === 0 && <p className="muted">No calls yet.</p>}
      {history.data && history.data.records.length > 0 && (
        <table className="list" aria-label="Webhook calls">
          <thead>
            <tr><th>Received</th><th>HTTP</th><th>Result</th><th>Run</th><th>Time</th><th></th></tr>
          </thead>
          <tbody>
            {history.data.records.map((c) => (
              <HistoryRow key={c.recordId} c={c} open={open === c.recordId} toggle={() => setOpen(open === c.recordId ? undefined : c.recordId)} />
            ))}
          </tbody>
        </table>
      )}
      {history.data && <PagePager page={page} pageSize={history.data.pageSize} total={history.data.total} onChange={setPage} />}
    </>
  );
}

function HistoryRow({ c, open, toggle }: { c: WebhookCall; open: boolean; toggle: () => void }) {
  return (
    <>
      <tr>
        <td><Time at={c.createdAt} /></td>
        <td>{c.httpStatus}</td>
        <td>
          <StatusBadge status={c.callStatus} /> {c.duplicate && <span className="muted">duplicate</span>} {c.errCode && <code>{c.errCode}</code>}
        </td>
        <td>{c.executionId ? <Link to={`/runs/${enc(c.executionId)}`}>{c.executionId}</Link> : '—'}</td>
        <td>{c.responseTime} ms</td>
        <td>
          <button type="button" aria-expanded={open} onClick={toggle}>{open ? 'Hide' : 'Detail'}</button>
        </td>
      </tr>
      {open && (
        <tr className="detail-row">
          <td colSpan={6}>
            <Json value={c} label="Call detail" />
          </td>
        </tr>
      )}
    </>
  );
}
