import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { after, before } from 'node:test';
import pg from 'pg';
import { openPostgresStore } from '../../src/store/postgres/open.ts';
import { openSqliteStore } from '../../src/store/sqlite/open.ts';
import type { Store } from '../../src/store/store.ts';

/** The real PostgreSQL on 127.0.0.1 (trust auth); never a mock. */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export type StoreKind = 'sqlite' | 'postgres';
export const STORE_KINDS: StoreKind[] = (process.env.FLOWGATE_TEST_STORES ?? 'sqlite,postgres').split(',') as StoreKind[];

export interface StoreTarget {
  kind: StoreKind;
  /** Config fragment that points a server at the same database. */
  config: { dataDir: string; databaseUrl?: string; databaseSchema?: string };
  open(): Store;
  /** Drops the database; PostgreSQL schemas of failed tests are kept for inspection (pg-boss's habit). */
  cleanup(keep: boolean): Promise<void>;
}

/** A fresh, empty database of the given kind: a temp dir for SQLite, a new schema for PostgreSQL. */
export function freshTarget(kind: StoreKind): StoreTarget {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'flowgate-test-'));
  if (kind === 'sqlite') {
    return {
      kind,
      config: { dataDir },
      open: () => openSqliteStore({ file: path.join(dataDir, 'flowgate.db') }),
      cleanup: async () => rmSync(dataDir, { recursive: true, force: true }),
    };
  }
  const schema = `t_${randomBytes(6).toString('hex')}`;
  return {
    kind,
    config: { dataDir, databaseUrl: TEST_DATABASE_URL, databaseSchema: schema },
    open: () => openPostgresStore({ connectionString: TEST_DATABASE_URL, schema }),
    cleanup: async (keep) => {
      rmSync(dataDir, { recursive: true, force: true });
      if (keep) return;
      const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    },
  };
}

/**
 * A migrated store of `kind` with `workspaces`, opened before the tests of the calling `describe` and
 * closed and dropped after them: `suite.store` is valid inside its tests.
 */
export function storeForSuite(kind: StoreKind, workspaces: string[]): { readonly store: Store } {
  let target: StoreTarget;
  const suite = {} as { store: Store };
  before(async () => {
    target = freshTarget(kind);
    suite.store = target.open();
    await suite.store.migrate();
    for (const ws of workspaces) await suite.store.catalog.ensureWorkspace(ws, 1);
  });
  after(async () => {
    await suite.store?.close();
    await target?.cleanup(false);
  });
  return suite;
}
