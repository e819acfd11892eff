import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Kysely, SqliteDialect } from 'kysely';
import { readMigrations } from '../migrations.ts';
import { SQLITE_PROFILE } from '../sql/profile.ts';
import { SqlStore } from '../sql/sqlStore.ts';
import type { Tables } from '../sql/tables.ts';

/**
 * Each prepared statement keeps its program in native memory (a 128-row insert: ~190 KB), so the
 * cache is bounded by count; batch verbs split batches into power-of-two slices (sql/values.ts), so
 * the write path needs a few hundred texts at most.
 */
const STATEMENT_CACHE_MAX = 300;

/**
 * Kysely's SQLite driver prepares every query anew; the ingest profile showed `prepare` at ~7% of
 * CPU. Queries are built from a fixed set of shapes, so caching statements by SQL text is safe and
 * bounded.
 */
function withStatementCache(raw: Database.Database): Database.Database {
  const cache = new Map<string, Database.Statement>();
  return new Proxy(raw, {
    get(target, prop, receiver) {
      if (prop !== 'prepare') {
        const v = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      }
      return (sql: string) => {
        let stmt = cache.get(sql);
        // Least recently used goes first: batch verbs have a text per batch size, and the hot ones
        // must not be pushed out by a burst of rare sizes.
        if (stmt) cache.delete(sql);
        else {
          stmt = target.prepare(sql);
          if (cache.size >= STATEMENT_CACHE_MAX) cache.delete(cache.keys().next().value as string);
        }
        cache.set(sql, stmt);
        return stmt;
      };
    },
  });
}

export interface SqliteOptions {
  /** File path, or ':memory:'. */
  file: string;
}

/**
 * The embedded store: one file, WAL, `synchronous=FULL` so an accepted run survives power
 * loss as well as `kill -9` (NORMAL would only survive the process dying). `busy_timeout` covers a
 * CLI process touching the file while the server runs; `cache_size` bounds SQLite's own memory.
 */
export function openSqliteStore(opts: SqliteOptions): SqlStore {
  if (opts.file !== ':memory:') mkdirSync(path.dirname(opts.file), { recursive: true });
  const raw = new Database(opts.file);
  raw.pragma('journal_mode = WAL');
  raw.pragma('synchronous = FULL');
  raw.pragma('busy_timeout = 5000');
  raw.pragma('foreign_keys = ON');
  // better-sqlite3 builds SQLite with a 16 MB page cache; measured under ingest it was the largest
  // part of the process's native growth. Pages beyond 4 MB come
  // from the OS page cache, a syscall away.
  raw.pragma('cache_size = -4000');
  const db = new Kysely<Tables>({ dialect: new SqliteDialect({ database: withStatementCache(raw) }) });
  return new SqlStore(db, SQLITE_PROFILE, {
    async migrate() {
      raw.exec('CREATE TABLE IF NOT EXISTS flowgate_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
      for (const m of readMigrations('sqlite')) {
        // IMMEDIATE takes the write lock first, so two processes starting together apply each
        // migration once: the second sees the row the first inserted.
        raw.exec('BEGIN IMMEDIATE');
        try {
          const done = raw.prepare('SELECT 1 FROM flowgate_migrations WHERE id = ?').get(m.id);
          if (!done) {
            raw.prepare('INSERT INTO flowgate_migrations (id, name, applied_at) VALUES (?, ?, ?)').run(m.id, m.name, Date.now());
            raw.exec(m.sql);
          }
          raw.exec('COMMIT');
        } catch (e) {
          raw.exec('ROLLBACK');
          throw e;
        }
      }
    },
    async close() {
      await db.destroy();
    },
  });
}
