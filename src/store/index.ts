import path from 'node:path';
import type { Config } from '../config.ts';
import { openPostgresStore } from './postgres/open.ts';
import { openSqliteStore } from './sqlite/open.ts';
import type { Store } from './store.ts';

/** SQLite under the data dir by default; `DATABASE_URL=postgres://…` switches to PostgreSQL. */
export function openStore(config: Pick<Config, 'databaseUrl' | 'databaseSchema' | 'dataDir'> & Partial<Pick<Config, 'dbPoolSize'>>): Store {
  if (config.databaseUrl) {
    return openPostgresStore({ connectionString: config.databaseUrl, schema: config.databaseSchema, poolSize: config.dbPoolSize });
  }
  return openSqliteStore({ file: path.join(config.dataDir, 'flowgate.db') });
}

export type { Store } from './store.ts';
