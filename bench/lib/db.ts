import Database from 'better-sqlite3';
import path from 'node:path';
import pg from 'pg';
import { newExecutionId } from '../../src/ids.ts';

/** Read-side access to a benchmark's store, to count what was committed and time what ran. */
export interface Db {
  kind: 'sqlite' | 'postgres';
  dataDir: string;
  url?: string;
  schema?: string;
}

async function query<T>(db: Db, sql: string): Promise<T[]> {
  if (db.kind === 'sqlite') {
    // Not readonly: a read-only handle cannot open a WAL database whose -shm was removed at shutdown.
    const d = new Database(path.join(db.dataDir, 'flowgate.db'), { fileMustExist: true });
    try {
      return d.prepare(sql).all() as T[];
    } finally {
      d.close();
    }
  }
  const c = new pg.Client({ connectionString: db.url, options: `-c search_path=${db.schema}` });
  await c.connect();
  try {
    return (await c.query(sql)).rows as T[];
  } finally {
    await c.end();
  }
}

export async function countAccepted(db: Db): Promise<number> {
  const [r] = await query<{ n: number | string }>(db, "SELECT count(*) AS n FROM executions WHERE trigger = 'webhook'");
  return Number(r!.n);
}

const pct = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : NaN);

export interface Timings {
  pending: number;
  finished: number;
  failed: number;
  completedPerSec: number;
  latencyP50: number;
  latencyP99: number;
  /** Accept-to-finish time not spent inside a task attempt, per node. */
  overheadPerNodeP50: number;
}

/** API-triggered runs created at or after `since` not yet terminal: cheap enough to poll while a backlog drains. */
export async function pendingRuns(db: Db, since = 0): Promise<number> {
  const [r] = await query<{ n: number | string }>(db, `SELECT count(*) AS n FROM executions WHERE status IN ('init', 'executing') AND "trigger" = 'api' AND created_at >= ${Math.floor(since)}`);
  return Number(r!.n);
}

/** Timings of the API-triggered runs created at or after `since` (ms since the epoch). */
export async function executionTimings(db: Db, since = 0): Promise<Timings> {
  const rows = await query<{ status: string; created_at: number; finished_at: number | null; inside: number | null; first_start: number | null; nodes: number }>(
    db,
    `SELECT e.status, e.created_at, e.finished_at,
            (SELECT sum(a.finished_at - a.started_at) FROM node_attempts a WHERE a.execution_id = e.id) AS inside,
            (SELECT min(a.started_at) FROM node_attempts a WHERE a.execution_id = e.id) AS first_start,
            (SELECT count(*) FROM node_executions n WHERE n.execution_id = e.id) AS nodes
       FROM executions e WHERE e.trigger = 'api' AND e.created_at >= ${Math.floor(since)}`,
  );
  const done = rows
    .filter((r) => r.finished_at !== null && r.first_start !== null)
    .map((r) => ({ ...r, created_at: Number(r.created_at), finished_at: Number(r.finished_at), inside: Number(r.inside ?? 0), firstStart: Number(r.first_start), nodes: Number(r.nodes) }));
  const lat = done.map((r) => r.finished_at - r.created_at).sort((a, b) => a - b);
  // Overhead is measured per run from its first node start, so time spent queued behind the burst is
  // not counted as the scheduler's: it is the gap between nodes of one run, divided by its nodes.
  const overhead = done.map((r) => (r.finished_at - r.firstStart - r.inside) / r.nodes).sort((a, b) => a - b);
  const first = done.reduce((m, r) => Math.min(m, r.created_at), Infinity);
  const last = done.reduce((m, r) => Math.max(m, r.finished_at), 0);
  return {
    pending: rows.filter((r) => r.finished_at === null).length,
    finished: done.filter((r) => r.status === 'finish').length,
    failed: done.filter((r) => r.status === 'failed').length,
    completedPerSec: done.length / Math.max(0.001, (last - first) / 1000),
    latencyP50: pct(lat, 50),
    latencyP99: pct(lat, 99),
    overheadPerNodeP50: pct(overhead, 50),
  };
}

/** How a backlog drained: the runs, those not finished, and from the first attempt a worker started to the last run's end. */
export async function drainTimings(db: Db): Promise<{ runs: number; notFinished: number; seconds: number }> {
  const [r] = await query<{ runs: number | string; not_finished: number | string; first: number | string | null; last: number | string | null }>(
    db,
    `SELECT count(*) AS runs, sum(CASE WHEN status = 'finish' THEN 0 ELSE 1 END) AS not_finished, max(finished_at) AS last,
            (SELECT min(started_at) FROM node_attempts WHERE worker_id <> 'accept') AS first
       FROM executions`,
  );
  return { runs: Number(r!.runs), notFinished: Number(r!.not_finished ?? 0), seconds: (Number(r!.last) - Number(r!.first)) / 1000 };
}

/**
 * Seeds `n` finished executions straight into the SQLite store (one transaction, prepared
 * statements), shaped like the store writes them. Returns a sample of their ids to read back.
 */
export async function seedExecutions(db: Db, canvasId: string, n: number): Promise<string[]> {
  const d = new Database(path.join(db.dataDir, 'flowgate.db'));
  d.pragma('journal_mode = WAL');
  d.pragma('synchronous = OFF');
  const exec = d.prepare(
    `INSERT INTO executions (id, workspace_id, workflow_id, workflow_version, status, trigger, variables, err_code, err_msg, created_at, started_at, finished_at, deadline_at)
     VALUES (?, 'ws-default', ?, 1, ?, ?, '{"n":1}', ?, ?, ?, ?, ?, ?)`,
  );
  const node = d.prepare(
    `INSERT INTO node_executions (execution_id, node_id, position, kind, title, deps, status, attempts, output, started_at, finished_at, err_code, err_msg)
     VALUES (?, 'out', 0, 'output', NULL, '[]', ?, 1, ?, ?, ?, ?, ?)`,
  );
  const attempt = d.prepare(`INSERT INTO node_attempts (execution_id, node_id, attempt, worker_id, status, started_at, finished_at) VALUES (?, 'out', 1, 'seed', ?, ?, ?)`);
  const sample: string[] = [];
  const start = Date.parse('2026-01-01T00:00:00Z');
  const step = Math.max(1, Math.floor((30 * 86_400_000) / n));
  d.transaction(() => {
    for (let i = 0; i < n; i++) {
      const t = start + i * step;
      const id = newExecutionId(t);
      const failed = i % 100 === 0;
      const status = failed ? 'failed' : 'finish';
      const err = failed ? ['UPSTREAM_ERROR', 'Task "out" failed: seeded'] : [null, null];
      exec.run(id, canvasId, status, i % 3 ? 'api' : 'webhook', err[0], err[1], t, t + 1, t + 5, t + 3_600_000);
      node.run(id, status, JSON.stringify({ n: i }), t + 1, t + 5, err[0], err[1]);
      attempt.run(id, status, t + 1, t + 5);
      if (i % Math.max(1, Math.floor(n / 1000)) === 0) sample.push(id);
    }
  })();
  d.close();
  return sample;
}
