import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { api, enc } from '../api.ts';
import { ErrorBox } from '../components/ErrorBox.tsx';
import { SecretOnce, Time } from '../components/bits.tsx';
import { useKey } from '../session.tsx';
import type { ApiKey, Scope } from '../types.ts';

const SCOPES: Scope[] = ['read', 'run', 'admin'];

export function ApiKeys() {
  const qc = useQueryClient();
  const me = useKey();
  const keys = useQuery({ queryKey: ['api-keys'], queryFn: () => api.get<{ keys: ApiKey[] }>('/v1/api-keys') });
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<Scope[]>(['read', 'run']);
  const done = () => qc.invalidateQueries({ queryKey: ['api-keys'] });
  const create = useMutation({
    mutationFn: () => api.post<ApiKey & { secret: string }>('/v1/api-keys', { name, scopes }),
    onSuccess: () => (setName(''), done()),
  });
  const revoke = useMutation({ mutationFn: (id: string) => api.del(`/v1/api-keys/${enc(id)}`), onSuccess: done });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate();
  };
  return (
    <>
      <h1>API keys</h1>
      <ErrorBox error={keys.error ?? revoke.error} />
      {keys.data && (
        <table className="list" aria-label="API keys">
          <thead>
            <tr><th>Name</th><th>Prefix</th><th>Scopes</th><th>Created</th><th></th></tr>
          </thead>
          <tbody>
            {keys.data.keys.map((k) => (
              <tr key={k.id}>
                <td>{k.name}</td>
                <td><code>{k.prefix}…</code></td>
                <td>{k.scopes.join(', ')}</td>
                <td><Time at={k.createdAt} /></td>
                <td>
                  {k.id === me.id ? (
                    <span className="muted">this session</span>
                  ) : (
                    <button type="button" className="danger" onClick={() => window.confirm(`Revoke ${k.name}? Calls with it fail at once.`) && revoke.mutate(k.id)}>
                      Revoke
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>New key</h2>
      <form className="settings" onSubmit={submit} aria-label="New API key">
        <label>
          Name
          <input required value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        <fieldset>
          <legend>Scopes</legend>
          {SCOPES.map((s) => (
            <label key={s} className="check">
              <input
                type="checkbox"
                checked={scopes.includes(s)}
                onChange={(e) => setScopes(e.target.checked ? [...scopes, s] : scopes.filter((x) => x !== s))}
              />{' '}
              {s}
            </label>
          ))}
        </fieldset>
        <button type="submit" disabled={create.isPending || scopes.length === 0}>Create key</button>
      </form>
      <ErrorBox error={create.error} />
      {create.data && <SecretOnce secret={create.data.secret} what={`secret of ${create.data.name}`} />}
    </>
  );
}
