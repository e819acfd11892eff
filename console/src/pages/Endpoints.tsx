import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import { api, enc } from '../api.ts';
import { ErrorBox } from '../components/ErrorBox.tsx';
import { SecretOnce, StatusBadge, Time } from '../components/bits.tsx';
import type { Endpoint } from '../types.ts';

export function Endpoints() {
  const qc = useQueryClient();
  const list = useQuery({ queryKey: ['endpoints'], queryFn: () => api.get<{ endpoints: Endpoint[] }>('/v1/event-endpoints') });
  const [url, setUrl] = useState('');
  const [description, setDescription] = useState('');
  const [eventTypes, setEventTypes] = useState('');
  const create = useMutation({
    mutationFn: () =>
      api.post<Endpoint & { secret: string }>('/v1/event-endpoints', {
        url,
        ...(description ? { description } : {}),
        ...(eventTypes.trim() ? { eventTypes: eventTypes.split(/[\s,]+/).filter(Boolean) } : {}),
      }),
    onSuccess: () => {
      setUrl('');
      qc.invalidateQueries({ queryKey: ['endpoints'] });
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate();
  };
  return (
    <>
      <h1>Event endpoints</h1>
      <p className="muted">Signed outbound events (Standard Webhooks) for runs of this workspace: docs/events.md.</p>
      <ErrorBox error={list.error} />
      {list.data && list.data.endpoints.length === 0 && <p className="muted">No endpoints yet.</p>}
      {list.data && list.data.endpoints.length > 0 && (
        <table className="list" aria-label="Event endpoints">
          <thead>
            <tr><th>URL</th><th>State</th><th>Events</th><th>Created</th></tr>
          </thead>
          <tbody>
            {list.data.endpoints.map((e) => (
              <tr key={e.id}>
                <td>
                  <Link to={`/events/${enc(e.id)}`}>{e.url}</Link>
                  {e.description && <div className="muted small">{e.description}</div>}
                </td>
                <td>
                  <StatusBadge status={e.enabled ? 'enabled' : 'disabled'} />
                  {e.disabledReason && <span className="muted small"> {e.disabledReason}</span>}
                </td>
                <td>{e.eventTypes?.join(', ') ?? 'all'}</td>
                <td><Time at={e.createdAt} /></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>New endpoint</h2>
      <form className="settings" onSubmit={submit} aria-label="New endpoint">
        <label>
          URL
          <input type="url" required value={url} onChange={(e) => setUrl(e.target.value)} placeholder="https://example.com/flowgate" />
        </label>
        <label>
          Description
          <input value={description} onChange={(e) => setDescription(e.target.value)} />
        </label>
        <label>
          Event types (empty: all)
          <input value={eventTypes} onChange={(e) => setEventTypes(e.target.value)} placeholder="execution.failed, execution.finished" />
        </label>
        <button type="submit" disabled={create.isPending}>Create endpoint</button>
      </form>
      <ErrorBox error={create.error} />
      {create.data && <SecretOnce secret={create.data.secret} what={`signing secret of ${create.data.url}`} />}
    </>
  );
}
