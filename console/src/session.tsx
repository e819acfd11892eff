import { useQuery, useQueryClient } from '@tanstack/react-query';
import { createContext, useContext } from 'react';
import { api, session } from './api.ts';
import type { CurrentKey, Scope } from './types.ts';

export const KeyContext = createContext<CurrentKey | null>(null);

/** The signed-in key; pages below the layout always have one. */
export function useKey(): CurrentKey {
  const k = useContext(KeyContext);
  if (!k) throw new Error('useKey outside a signed-in layout');
  return k;
}

/** Whether the key may press buttons that need `scope` (admin implies every scope, as on the server). */
export function useCan(scope: Scope): boolean {
  const k = useKey();
  return k.scopes.includes('admin') || k.scopes.includes(scope);
}

export function useCurrentKey(key: string | null) {
  return useQuery({
    queryKey: ['current-key', key],
    queryFn: () => api.get<CurrentKey>('/v1/api-keys/current'),
    enabled: key !== null,
    staleTime: 60_000,
  });
}

export function useSignOut() {
  const qc = useQueryClient();
  return () => {
    session.signOut();
    qc.clear();
    window.location.assign('/ui/');
  };
}
