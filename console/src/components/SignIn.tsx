import { useState, type FormEvent } from 'react';
import { ApiError } from '../api.ts';

export function SignIn({ onSignIn, error }: { onSignIn: (key: string) => void; error?: Error }) {
  const [value, setValue] = useState('');
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (value.trim()) onSignIn(value.trim());
  };
  const message =
    error instanceof ApiError && error.code === 'FORBIDDEN'
      ? 'This key cannot read: the console needs a key with the "read" or "admin" scope.'
      : error?.message;
  return (
    <main className="signin">
      <h1>Flowgate console</h1>
      <form onSubmit={submit}>
        <label htmlFor="api-key">API key</label>
        <input
          id="api-key"
          name="api-key"
          type="password"
          autoComplete="off"
          autoFocus
          placeholder="fg_…"
          value={value}
          onChange={(e) => setValue(e.target.value)}
        />
        <button type="submit">Sign in</button>
      </form>
      {message && <p role="alert" className="error">{message}</p>}
      <p className="hint">
        The key stays in this tab's session storage and is sent only to this server. A key with the <code>read</code> scope
        sees runs; <code>run</code> adds run and retry buttons; <code>admin</code> adds webhooks, event endpoints and keys.
      </p>
    </main>
  );
}
