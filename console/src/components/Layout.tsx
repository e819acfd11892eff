import { useState } from 'react';
import { NavLink, Outlet } from 'react-router';
import { session } from '../api.ts';
import { KeyContext, useCurrentKey, useSignOut } from '../session.tsx';
import { SignIn } from './SignIn.tsx';

export function Layout() {
  const [key, setKey] = useState(session.key());
  const current = useCurrentKey(key);
  const signOut = useSignOut();

  if (key === null) return <SignIn onSignIn={(k) => (session.signIn(k), setKey(k))} />;
  if (current.isPending) return <p className="loading">Checking your key…</p>;
  if (current.isError) {
    return <SignIn error={current.error} onSignIn={(k) => (session.signIn(k), setKey(k))} />;
  }
  const k = current.data;
  const admin = k.scopes.includes('admin');
  return (
    <KeyContext.Provider value={k}>
      <header className="top">
        <strong className="brand">Flowgate</strong>
        <nav aria-label="Main">
          <NavLink to="/" end>Runs</NavLink>
          <NavLink to="/workflows">Workflows</NavLink>
          <NavLink to="/failed">Failed runs</NavLink>
          {admin && <NavLink to="/events">Event endpoints</NavLink>}
          {admin && <NavLink to="/keys">API keys</NavLink>}
        </nav>
        <span className="who" title={`key ${k.prefix}…`}>
          {k.workspaceId} · {k.name} <span className="scopes">({k.scopes.join(', ')})</span>
        </span>
        <button type="button" onClick={signOut}>Sign out</button>
      </header>
      <main>
        <Outlet />
      </main>
    </KeyContext.Provider>
  );
}
