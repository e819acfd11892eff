import { mintApiKey } from '../apiKeys.ts';
import type { Config } from '../config.ts';
import { DEFAULT_WORKSPACE } from '../ids.ts';
import { openStore } from '../store/index.ts';
import type { ApiKeyRecord, Scope } from '../store/store.ts';

const SCOPES: readonly Scope[] = ['run', 'read', 'admin'];

export class KeyOptionsError extends Error {}

/** `--admin` or `--scopes run,read` into scopes; anything else is a usage mistake. */
export function parseScopes(opts: { admin?: boolean; scopes?: string }): Scope[] {
  if (opts.admin) return ['admin'];
  const list = (opts.scopes ?? 'run,read').split(',').map((s) => s.trim()).filter(Boolean);
  const bad = list.filter((s) => !SCOPES.includes(s as Scope));
  if (bad.length || list.length === 0) throw new KeyOptionsError(`--scopes takes a comma-separated list of ${SCOPES.join(', ')} (got "${opts.scopes ?? ''}")`);
  return [...new Set(list)] as Scope[];
}

/**
 * Creates an API key straight in the database (the SQLite file under FLOWGATE_DATA_DIR, or
 * DATABASE_URL), with or without a server running: the way back in when the only admin key is lost.
 * Migrations are applied first, so it also works on a database no server has opened yet.
 */
export async function createKeyOffline(
  config: Pick<Config, 'databaseUrl' | 'databaseSchema' | 'dataDir'>,
  k: { workspaceId: string; name: string; scopes: Scope[] },
  now = Date.now(),
): Promise<{ record: ApiKeyRecord; secret: string }> {
  const store = await openStore(config);
  try {
    await store.migrate();
    if (k.workspaceId === DEFAULT_WORKSPACE) await store.catalog.ensureWorkspace(DEFAULT_WORKSPACE, now);
    else if (!(await store.catalog.getWorkspace(k.workspaceId))) throw new KeyOptionsError(`workspace ${k.workspaceId} does not exist in this database`);
    const key = mintApiKey({ ...k, createdAt: now });
    await store.catalog.createApiKey(key.record);
    return key;
  } finally {
    await store.close();
  }
}
