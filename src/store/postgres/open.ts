import { Kysely, PostgresDialect, type PostgresPool, type PostgresPoolClient } from 'kysely';
import pg from 'pg';
import { readMigrations } from '../migrations.ts';
import { POSTGRES_PROFILE } from '../sql/profile.ts';
import { SqlStore } from '../sql/sqlStore.ts';
import { WORK_CHANNEL } from '../sql/notify.ts';
import { preparedName } from '../sql/statements.ts';
import type { Tables } from '../sql/tables.ts';

// Times are BIGINT epoch milliseconds, well inside Number's exact range; parse them as numbers.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export interface PostgresOptions {
  connectionString: string;
  /** Schema for every table; tests use one per test file. Created if missing. */
  schema?: string;
  poolSize?: number;
  /**
   * Told when a connection breaks outside any query — PostgreSQL restarted or failed over, a proxy
   * closed it, an administrator terminated it — or the listener for wake-ups lost its connection.
   * The pool replaces the connection when next needed and the listener reconnects; nothing is retried.
   */
  onConnectionError?: (err: Error, where: 'pool' | 'listener') => void;
}

const MIGRATION_LOCK = 7_146_055_301; // arbitrary, fixed: "flowgate migrations"
/** Connections of the queue's own pool (see openPostgresStore), beside `poolSize`. */
export const QUEUE_POOL_SIZE = 2;
/** Below this many rows a table's missing statistics cost nothing worth an ANALYZE. */
const NEW_TABLE_ROWS = 10_000;

/**
 * The pool as Kysely sees it, sending the statements marked `prepared` (sql/statements.ts) by name:
 * each connection parses them once, and after their first runs plans them once. Kysely's driver
 * passes text and values only. `queue`: the pool is the queue's, and also names the turn's statements.
 */
function namingPrepared(pool: pg.Pool, queue: boolean): PostgresPool {
  const clients = new WeakMap<pg.PoolClient, PostgresPoolClient>();
  return {
    async connect() {
      const client = await pool.connect();
      let named = clients.get(client);
      if (!named) {
        named = {
          // Kysely's driver only ever calls query(text, values): it streams nothing here.
          query: ((text: string, values: unknown[]) => {
            const name = preparedName(text, queue);
            return name ? client.query({ name, text, values }) : client.query(text, values);
          }) as unknown as PostgresPoolClient['query'],
          release: () => client.release(),
        };
        clients.set(client, named);
      }
      return named;
    },
    end: () => pool.end(),
  };
}

export function openPostgresStore(opts: PostgresOptions): SqlStore {
  const schema = opts.schema;
  if (schema && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`invalid schema name ${schema}`);
  const searchPath = schema ? ` -c search_path=${schema}` : '';
  const pool = new pg.Pool({ connectionString: opts.connectionString, max: opts.poolSize ?? 10, ...(searchPath ? { options: searchPath.trim() } : {}) });
  const db = new Kysely<Tables>({ dialect: new PostgresDialect({ pool: namingPrepared(pool, false) }) });
  // The turns of the worker and the event dispatcher, on connections of their own: each turn holds one
  // for its transaction (a process runs one of each; tests run several on one store). Their
  // statements are prepared by name here, and sequential scans are off, so a plan made while a table
  // was small still reads it through its keys once it is large (see `preparedNames` in
  // sql/statements.ts). Every turn statement has an index for each table it reads; the setting only
  // takes away the plans that would ignore it.
  const queuePool = new pg.Pool({ connectionString: opts.connectionString, max: QUEUE_POOL_SIZE, ...(searchPath ? { options: searchPath.trim() } : {}) });
  // A SET of the session rather than a startup option, which PgBouncer refuses unless told to ignore it.
  // The client runs its queries in order, so this one comes before any statement is planned.
  queuePool.on('connect', (client) => void client.query('SET enable_seqscan = off').catch(() => undefined));
  const queueDb = new Kysely<Tables>({ dialect: new PostgresDialect({ pool: namingPrepared(queuePool, true) }) });
  // An idle client's error reaches its pool as an 'error' event, which with no listener ends the
  // process: one terminated connection (a PostgreSQL restart, a proxy's idle timeout) took the
  // server down. The pool has already dropped the client.
  for (const p of [pool, queuePool]) p.on('error', (err) => opts.onConnectionError?.(err, 'pool'));
  return new SqlStore(db, POSTGRES_PROFILE, {
    async migrate() {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        // Concurrent cold starts queue on this lock; the losers then find every migration applied.
        // The schema is created under it too: two concurrent CREATE SCHEMA IF NOT EXISTS can both
        // miss the other's uncommitted row and one then fails on pg_namespace's unique index.
        await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
        if (schema) await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
        await client.query('CREATE TABLE IF NOT EXISTS flowgate_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
        const { rows } = await client.query<{ id: number }>('SELECT id FROM flowgate_migrations');
        const applied = new Set(rows.map((r) => Number(r.id)));
        for (const m of readMigrations('postgres')) {
          if (applied.has(m.id)) continue;
          await client.query('INSERT INTO flowgate_migrations (id, name, applied_at) VALUES ($1, $2, $3)', [m.id, m.name, Date.now()]);
          await client.query(m.sql);
        }
        await client.query('COMMIT');
      } catch (e) {
        await client.query('ROLLBACK').catch(() => {});
        throw e;
      } finally {
        client.release();
      }
    },
    async close() {
      await queueDb.destroy();
      await db.destroy();
    },
    // Until its first ANALYZE, PostgreSQL guesses what every condition selects: after a bulk load of
    // 1,000,000 executions a history filter (status=failed) took 1.1 s a request instead of 7 ms,
    // for the minute or more autovacuum took to get to it. SKIP_LOCKED: another process may be at it.
    async analyzeNewTables() {
      const { rows } = await pool.query<{ relname: string }>(
        `SELECT relname FROM pg_stat_user_tables
          WHERE schemaname = current_schema() AND last_analyze IS NULL AND last_autoanalyze IS NULL AND n_live_tup >= $1`,
        [NEW_TABLE_ROWS],
      );
      for (const { relname } of rows) await pool.query(`ANALYZE (SKIP_LOCKED) ${pg.escapeIdentifier(relname)}`);
      return rows.map((r) => r.relname);
    },
    // A dedicated connection, outside the pool: LISTEN holds it for the process's lifetime.
    subscribeWork: (kind, wake) => listen(opts, kind, wake),
  }, queueDb);
}

/** Waits before listening again after the listener lost its connection; doubles up to the last. */
const RELISTEN_MS = [250, 500, 1000, 2000, 5000];

/**
 * LISTENs for wake-ups of `kind` on a connection of its own. If that connection breaks, it connects
 * again (with backoff) and wakes the caller once listening again, since notifications sent meanwhile
 * are lost. Until then workers and dispatchers only poll. The first connection must succeed.
 */
async function listen(opts: PostgresOptions, kind: string, wake: () => void): Promise<() => Promise<void>> {
  let stopped = false;
  let client: pg.Client | undefined;
  let timer: NodeJS.Timeout | undefined;
  const open = async () => {
    const c = new pg.Client({ connectionString: opts.connectionString });
    // An empty payload is an older process's wake-up for everyone.
    c.on('notification', (n) => (n.payload === kind || !n.payload) && wake());
    let lost = false;
    const onLost = (err?: Error) => {
      if (lost || stopped) return;
      lost = true;
      if (err) opts.onConnectionError?.(err, 'listener');
      void c.end().catch(() => undefined);
      again(0);
    };
    c.on('error', onLost);
    c.on('end', () => onLost());
    try {
      await c.connect();
      await c.query(`LISTEN ${WORK_CHANNEL}`);
    } catch (err) {
      // The caller retries (or fails to subscribe); this client is done either way.
      lost = true;
      void c.end().catch(() => undefined);
      throw err;
    }
    // Unsubscribed while this reconnect was under way: an open connection would keep the process alive.
    if (stopped) {
      lost = true;
      void c.end().catch(() => undefined);
      return;
    }
    client = c;
  };
  const again = (attempt: number) => {
    timer = setTimeout(() => {
      if (stopped) return;
      open().then(wake, (err: Error) => {
        if (stopped) return;
        opts.onConnectionError?.(err, 'listener');
        again(Math.min(attempt + 1, RELISTEN_MS.length - 1));
      });
    }, RELISTEN_MS[attempt]);
    // Waiting to listen again must not keep a process that is otherwise done alive.
    timer.unref();
  };
  await open();
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await client?.end().catch(() => undefined);
  };
}
