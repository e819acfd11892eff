import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { api, enc } from '../api.ts';
import { CursorPager } from '../components/CursorPager.tsx';
import { ErrorBox } from '../components/ErrorBox.tsx';
import { Json, SecretOnce, Section, StatusBadge, Time } from '../components/bits.tsx';
import { pollWithBackoff } from '../hooks.ts';
import type { Endpoint, Message } from '../types.ts';

export function EndpointDetail() {
  const { endpointId = '' } = useParams();
  const qc = useQueryClient();
  const navigate = useNavigate();
  const path = `/v1/event-endpoints/${enc(endpointId)}`;
  const ep = useQuery({ queryKey: ['endpoint', endpointId], queryFn: () => api.get<Endpoint>(path) });
  const refresh = () => qc.invalidateQueries({ queryKey: ['endpoint', endpointId] }).then(() => qc.invalidateQueries({ queryKey: ['messages', endpointId] }));
  const toggle = useMutation({ mutationFn: (enabled: boolean) => api.patch(path, { enabled }), onSuccess: refresh });
  const rotate = useMutation({ mutationFn: () => api.post<{ secret: string }>(`${path}/rotate-secret`, {}) });
  const test = useMutation({ mutationFn: () => api.post<{ messageId: string }>(`${path}/test`, {}), onSuccess: refresh });
  const remove = useMutation({ mutationFn: () => api.del(path), onSuccess: () => navigate('/events') });
  const [since, setSince] = useState('');
  const recover = useMutation({ mutationFn: () => api.post<{ recovered: number }>(`${path}/recover`, { since: new Date(since).toISOString() }), onSuccess: refresh });

  if (ep.error) return <ErrorBox error={ep.error} />;
  if (!ep.data) return <p className="loading">Loading…</p>;
  const e = ep.data;
  const submitRecover = (ev: FormEvent) => {
    ev.preventDefault();
    if (since) recover.mutate();
  };
  return (
    <>
      <h1>
        Endpoint <code>{e.url}</code> <StatusBadge status={e.enabled ? 'enabled' : 'disabled'} />
      </h1>
      {e.description && <p>{e.description}</p>}
      {e.disabledReason && <p className="err">Disabled: {e.disabledReason}</p>}
      {e.failingSince && <p className="err">Failing since <Time at={e.failingSince} /></p>}
      <div className="actions">
        <button type="button" onClick={() => test.mutate()} disabled={test.isPending}>Send test event</button>
        <button type="button" onClick={() => toggle.mutate(!e.enabled)}>{e.enabled ? 'Disable' : 'Enable'}</button>
        <button type="button" onClick={() => window.confirm('Rotate the signing secret? The old one keeps signing for 24 hours.') && rotate.mutate()}>
          Rotate secret
        </button>
        <button type="button" className="danger" onClick={() => window.confirm(`Delete ${e.url}? Pending messages are given up.`) && remove.mutate()}>
          Delete
        </button>
      </div>
      {test.data && <p role="status">Test event queued as <code>{test.data.messageId}</code>.</p>}
      {rotate.data && <SecretOnce secret={rotate.data.secret} what="new signing secret" />}
      <ErrorBox error={toggle.error ?? rotate.error ?? test.error ?? remove.error ?? recover.error} />
      <EditEndpoint key={`${e.url}|${e.description ?? ''}|${(e.eventTypes ?? []).join()}|${e.ordered}`} e={e} path={path} onSaved={refresh} />
      <form className="inline" onSubmit={submitRecover} aria-label="Recover">
        <label>
          Re-send failed messages created since{' '}
          <input type="datetime-local" value={since} onChange={(ev) => setSince(ev.target.value)} required />
        </label>{' '}
        <button type="submit" disabled={recover.isPending}>Recover</button>
        {recover.data && <span role="status"> {recover.data.recovered} message(s) queued again.</span>}
      </form>
      <Messages endpointId={endpointId} />
    </>
  );
}

function EditEndpoint({ e, path, onSaved }: { e: Endpoint; path: string; onSaved: () => void }) {
  const [url, setUrl] = useState(e.url);
  const [description, setDescription] = useState(e.description ?? '');
  const [eventTypes, setEventTypes] = useState((e.eventTypes ?? []).join(', '));
  const [ordered, setOrdered] = useState(e.ordered ?? false);
  const save = useMutation({
    mutationFn: () => {
      const types = eventTypes.split(/[\s,]+/).filter(Boolean);
      // null clears a field (docs/api.md): an empty description or type list means none / all.
      return api.patch(path, { url, description: description || null, eventTypes: types.length ? types : null, ordered });
    },
    onSuccess: onSaved,
  });
  const submit = (ev: FormEvent) => {
    ev.preventDefault();
    save.mutate();
  };
  return (
    <details>
      <summary>Edit endpoint</summary>
      <form className="settings" onSubmit={submit} aria-label="Edit endpoint">
        <label>
          URL
          <input type="url" required value={url} onChange={(ev) => setUrl(ev.target.value)} />
        </label>
        <label>
          Description
          <input value={description} onChange={(ev) => setDescription(ev.target.value)} />
        </label>
        <label>
          Event types (empty: all)
          <input value={eventTypes} onChange={(ev) => setEventTypes(ev.target.value)} placeholder="execution.failed, execution.finished" />
        </label>
        <label className="check">
          <input type="checkbox" checked={ordered} onChange={(ev) => setOrdered(ev.target.checked)} /> Ordered: each message waits until the one before it succeeded or was given up
        </label>
        <button type="submit" disabled={save.isPending}>Save endpoint</button>
        {save.isSuccess && <span role="status"> Saved.</span>}
        <ErrorBox error={save.error} />
      </form>
    </details>
  );
}

function Messages({ endpointId }: { endpointId: string }) {
  const qc = useQueryClient();
  const [status, setStatus] = useState('');
  const [stack, setStack] = useState<string[]>([]);
  const [open, setOpen] = useState<string | undefined>();
  const cursor = stack[stack.length - 1];
  const messages = useQuery({
    queryKey: ['messages', endpointId, status, cursor],
    queryFn: () => api.get<{ messages: Message[]; nextCursor: string | null }>(`/v1/event-endpoints/${enc(endpointId)}/messages`, { status, cursor, limit: 25 }),
    refetchInterval: cursor ? false : pollWithBackoff(3000),
    placeholderData: (prev) => prev,
  });
  const replay = useMutation({
    mutationFn: (id: string) => api.post<{ replayed: boolean }>(`/v1/messages/${enc(id)}/replay`, {}),
    onSuccess: () => qc.invalidateQueries({ queryKey: ['messages', endpointId] }),
  });
  return (
    <Section
      title="Messages"
      actions={
        <label>
          Status{' '}
          <select value={status} onChange={(e) => (setStatus(e.target.value), setStack([]))}>
            <option value="">all</option>
            {['pending', 'delivering', 'succeeded', 'failed', 'skipped'].map((s) => <option key={s}>{s}</option>)}
          </select>
        </label>
      }
    >
      <ErrorBox error={messages.error ?? replay.error} />
      {messages.data && messages.data.messages.length === 0 && <p className="muted">No messages.</p>}
      {messages.data && messages.data.messages.length > 0 && (
        <table className="list" aria-label="Messages">
          <thead>
            <tr><th>Created</th><th>Event</th><th>Status</th><th>Attempts</th><th>Last result</th><th>Run</th><th></th></tr>
          </thead>
          <tbody>
            {messages.data.messages.map((m) => {
              const last = m.attempts[m.attempts.length - 1];
              return (
                <MessageRows
                  key={m.id}
                  m={m}
                  last={last}
                  open={open === m.id}
                  toggle={() => setOpen(open === m.id ? undefined : m.id)}
                  replay={() => replay.mutate(m.id)}
                  replaying={replay.isPending && replay.variables === m.id}
                />
              );
            })}
          </tbody>
        </table>
      )}
      <CursorPager stack={stack} next={messages.data?.nextCursor} onChange={setStack} />
    </Section>
  );
}

function lastResult(a: Message['attempts'][number]): string {
  const http = a.httpStatus ? `HTTP ${a.httpStatus}` : undefined;
  return [a.outcome, http, a.error && a.error !== http ? a.error : undefined].filter(Boolean).join(' · ');
}

function MessageRows({ m, last, open, toggle, replay, replaying }: { m: Message; last?: Message['attempts'][number]; open: boolean; toggle: () => void; replay: () => void; replaying: boolean }) {
  return (
    <>
      <tr data-message={m.id}>
        <td><Time at={m.createdAt} /></td>
        <td>{m.eventType}</td>
        <td><StatusBadge status={m.status} /></td>
        <td>{m.attempts.length}</td>
        <td className="small">{last ? lastResult(last) : '—'}</td>
        <td>{m.executionId ? <Link to={`/runs/${enc(m.executionId)}`}>{m.executionId}</Link> : '—'}</td>
        <td className="nowrap">
          <button type="button" aria-expanded={open} onClick={toggle}>{open ? 'Hide' : 'Detail'}</button>{' '}
          {m.status !== 'pending' && m.status !== 'delivering' && <button type="button" onClick={replay} disabled={replaying}>Replay</button>}
        </td>
      </tr>
      {open && (
        <tr className="detail-row">
          <td colSpan={7}>
            <h4>Attempts</h4>
            <table className="list">
              <thead>
                <tr><th>#</th><th>Outcome</th><th>HTTP</th><th>Latency</th><th>Error</th><th>Response</th></tr>
              </thead>
              <tbody>
                {m.attempts.map((a) => (
                  <tr key={a.attempt}>
                    <td>{a.attempt}</td>
                    <td>{a.outcome}</td>
                    <td>{a.httpStatus ?? '—'}</td>
                    <td>{a.latencyMs ?? '—'} ms</td>
                    <td>{a.error}</td>
                    <td><pre className="json small">{a.response}</pre></td>
                  </tr>
                ))}
              </tbody>
            </table>
            <h4>Payload</h4>
            <Json value={m.payload} label="Payload" />
          </td>
        </tr>
      )}
    </>
  );
}
