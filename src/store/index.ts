import path from 'node:path';
import type { Config } from '../config.ts';
import type { Store } from './store.ts';

/**
 * SQLite under the data dir by default; `DATABASE_URL=postgres://…` switches to PostgreSQL. Only the
 * chosen driver is loaded: the other one's code would cost the process memory for nothing.
 */
export async function openStore(
  config: Pick<Config, 'databaseUrl' | 'databaseSchema' | 'dataDir'> & Partial<Pick<Config, 'dbPoolSize'>>,
  onConnectionError?: (err: Error, where: 'pool' | 'listener') => void,
): Promise<Store> {
  if (config.databaseUrl) {
    const { openPostgresStore } = await import('./postgres/open.ts');
    return openPostgresStore({ connectionString: config.databaseUrl, schema: config.databaseSchema, poolSize: config.dbPoolSize, onConnectionError });
  }
  const { openSqliteStore } = await import('./sqlite/open.ts');
  return openSqliteStore({ file: path.join(config.dataDir, 'flowgate.db') });
}

export type { Store } from './store.ts';
