import type { Transaction } from 'kysely';
import type { BackendProfile } from './profile.ts';
import { HEAD_COLUMNS, type Head } from './head.ts';
import { run, statement, unindexed } from './statements.ts';
import type { Tables } from './tables.ts';

/**
 * A worker turn's settle on PostgreSQL in three statements, whatever the batch: the lock, the writes,
 * the advance. Statement by statement it took six to nine round trips per settle (lock, shape read,
 * finals, retries, attempts, advance read, release, skip, finish), twice a turn (the results from
 * outside, then the tasks the turn evaluated itself).
 *
 * Rows travel as JSON parameters typed by the table's own row type (`json_populate_recordset`), so
 * each text is the same for every batch size and is prepared on the queue's connections (see
 * `preparedNames` in statements.ts). That is most of the gain: planned afresh, these statements cost
 * more to plan than to run, and a turn at light load was mostly planning (a 3-task run's
 * accept-to-finish went from 13–15 to 4 ms at 100 runs/s).
 */
type Trx = Transaction<Tables>;

/** The rows of one JSON parameter, typed by `table`'s row type, as a CTE named `name`. */
const rowsOf = (name: string, table: keyof Tables, param: string) => `${name} AS (SELECT * FROM json_populate_recordset(NULL::${table}, CAST(${param} AS json)))`;

/** `target` is one of `rows`' keys; the array InitPlan keeps the lookup on the primary key (see `keyedBy` in values.ts). */
const nodeOf = (target: string, rows: string) =>
  `${target}.execution_id = ${rows}.execution_id AND ${target}.node_id = ${rows}.node_id AND ${target}.execution_id = ANY(ARRAY(SELECT execution_id FROM ${rows}))`;

/** A response shape as the turn compares it. */
export interface ShapeRow {
  workspace_id: string;
  workflow_id: string;
  node_id: string;
  shape: string;
}

/**
 * Locks the executions in id order (so two workers settling the same executions cannot deadlock) and
 * reads the last response shapes of `shapeNodes` in their workflows. Its own statement: a statement
 * that waited for a lock still reads from the snapshot it started with, so the reads that must see
 * the previous holder's commit come in the next one. Parameters: $1 execution ids, $2 node ids.
 */
const LOCK = (p: () => string) => {
  const [ids, nodes] = [p(), p()];
  return `WITH h AS (
      SELECT ${HEAD_COLUMNS} FROM executions WHERE id = ANY(ARRAY(SELECT unnest(CAST(${ids} AS TEXT[])))) ORDER BY id FOR UPDATE
    )
    SELECT (SELECT coalesce(json_agg(h), '[]') FROM h) AS heads,
           (SELECT coalesce(json_agg(json_build_object('workspace_id', s.workspace_id, 'workflow_id', s.workflow_id, 'node_id', s.node_id, 'shape', s.shape)), '[]')
              FROM (SELECT DISTINCT workspace_id, workflow_id FROM h) w
              JOIN response_shapes s ON s.workspace_id = w.workspace_id AND s.workflow_id = w.workflow_id
             WHERE s.node_id = ANY(CAST(${nodes} AS TEXT[]))) AS shapes`;
};

export async function lockInOne(trx: Trx, profile: BackendProfile, executionIds: readonly string[], shapeNodes: readonly string[]): Promise<{ heads: Head[]; shapes: ShapeRow[] }> {
  const [row] = await run<{ heads: Head[]; shapes: ShapeRow[] }>(trx, statement(profile, 'turn lock', LOCK, { prepared: 'queue' }), [executionIds, shapeNodes]);
  return row!;
}

/**
 * Final results, retries and their attempts, and the state of the executions to advance. Each node
 * row's WHERE names the lease owner, the state and the attempt, so a completion whose lease was lost
 * changes nothing, and its attempt row is only closed with it. The node state read is the statement's
 * snapshot, from before its own writes: the caller applies them (`applied`) to what it reads.
 *
 * Only the parts a batch needs are in its text (retries are rare): PostgreSQL plans every part of a
 * statement it runs, empty or not, and the plan is most of what a part costs.
 * Parameters: $1 the worker, $2 the executions whose node state to read, $3 attempt rows, then the
 * finals and the retries present (node rows, the attempt in `attempts`).
 */
const SETTLE = (parts: { finals: boolean; retries: boolean }) => (p: () => string) => {
  const [worker, advance, attempts] = [p(), p(), p()];
  const leased = (rows: string) => `${nodeOf('n', rows)} AND ${unindexed('n.lease_owner')} = ${worker} AND n.status = 'executing' AND n.attempts = ${rows}.attempts`;
  const ctes = [rowsOf('a', 'node_attempts', attempts)];
  const done: string[] = [];
  if (parts.finals) {
    ctes.push(
      rowsOf('f', 'node_executions', p()),
      `fu AS (
      UPDATE node_executions n
         SET status = f.status, finished_at = f.finished_at, output = f.output, drift = f.drift, messages = f.messages,
             usage = f.usage, err_code = f.err_code, err_msg = f.err_msg, lease_owner = NULL, lease_expires_at = NULL
        FROM f WHERE ${leased('f')}
      RETURNING n.execution_id, n.node_id)`,
    );
    done.push('SELECT execution_id, node_id FROM fu');
  }
  if (parts.retries) {
    ctes.push(
      rowsOf('r', 'node_executions', p()),
      `ru AS (
      UPDATE node_executions n
         SET status = 'waiting', runnable_at = r.runnable_at, err_code = r.err_code, err_msg = r.err_msg, wait_reason = NULL,
             lease_owner = NULL, lease_expires_at = NULL
        FROM r WHERE ${leased('r')}
      RETURNING n.execution_id, n.node_id)`,
    );
    done.push('SELECT execution_id, node_id FROM ru');
  }
  ctes.push(
    `done AS (${done.join(' UNION ALL ')})`,
    `au AS (
      UPDATE node_attempts t
         SET status = a.status, finished_at = a.finished_at, http_status = a.http_status, err_code = a.err_code,
             err_msg = a.err_msg, next_attempt_at = a.next_attempt_at, input = a.input
        FROM a JOIN done d ON d.execution_id = a.execution_id AND d.node_id = a.node_id
       WHERE t.execution_id = a.execution_id AND t.node_id = a.node_id AND t.attempt = a.attempt
         AND t.execution_id = ANY(ARRAY(SELECT execution_id FROM done)))`,
  );
  return `WITH ${ctes.join(',\n    ')}
    SELECT (SELECT coalesce(json_agg(json_build_array(execution_id, node_id)), '[]') FROM done) AS applied,
           (SELECT coalesce(json_agg(json_build_object('execution_id', n.execution_id, 'node_id', n.node_id, 'kind', n.kind, 'deps', n.deps,
                     'status', n.status, 'runnable_at', n.runnable_at, 'output', CASE WHEN n.kind = 'condition' THEN n.output END,
                     'err_code', n.err_code, 'err_msg', n.err_msg) ORDER BY n.execution_id, n.position), '[]')
              FROM node_executions n WHERE n.execution_id = ANY(ARRAY(SELECT unnest(CAST(${advance} AS TEXT[]))))) AS nodes`;
};

/** A node row of an execution to advance, as SETTLE reads it. */
export type AdvanceRow = Pick<Tables['node_executions'], 'execution_id' | 'node_id' | 'kind' | 'deps' | 'status' | 'runnable_at' | 'output' | 'err_code' | 'err_msg'>;

export async function settleInOne(
  trx: Trx,
  profile: BackendProfile,
  workerId: string,
  rows: { finals: object[]; retries: object[]; attempts: object[] },
  advance: readonly string[],
): Promise<{ applied: [string, string][]; nodes: AdvanceRow[] }> {
  const parts = { finals: rows.finals.length > 0, retries: rows.retries.length > 0 };
  if (!parts.finals && !parts.retries) return { applied: [], nodes: [] };
  const params: unknown[] = [workerId, advance, JSON.stringify(rows.attempts)];
  if (parts.finals) params.push(JSON.stringify(rows.finals));
  if (parts.retries) params.push(JSON.stringify(rows.retries));
  const text = statement(profile, `turn settle${parts.finals ? ' finals' : ''}${parts.retries ? ' retries' : ''}`, SETTLE(parts), { prepared: 'queue' });
  const [row] = await run<{ applied: [string, string][]; nodes: AdvanceRow[] }>(trx, text, params);
  return row!;
}

/**
 * The advance rule's decisions for a batch of executions — release, skip, finish, fail, and on a
 * failed run take back what was released earlier — with only the parts the batch needs in its text,
 * as in SETTLE. A failed run's decision releases and skips nothing, so no node row is written twice
 * by one statement. Returns the runs it ended (one already ended elsewhere is not).
 */
const ADVANCE = (parts: { release: boolean; skip: boolean; finish: boolean; fail: boolean }) => (p: () => string) => {
  const now = p();
  const ctes: string[] = [];
  const ended: string[] = [];
  if (parts.release) {
    ctes.push(
      rowsOf('rel', 'node_executions', p()),
      `released AS (UPDATE node_executions n SET runnable_at = ${now} FROM rel WHERE ${nodeOf('n', 'rel')} AND n.status = 'init' AND n.runnable_at IS NULL)`,
    );
  }
  if (parts.skip) {
    ctes.push(rowsOf('sk', 'node_executions', p()), `skipped AS (UPDATE node_executions n SET status = 'skipped', finished_at = ${now} FROM sk WHERE ${nodeOf('n', 'sk')} AND n.status = 'init')`);
  }
  if (parts.finish) {
    ctes.push(`finished AS (
      UPDATE executions e SET status = 'finish', finished_at = ${now}, err_code = NULL, err_msg = NULL
       WHERE e.id = ANY(ARRAY(SELECT unnest(CAST(${p()} AS TEXT[])))) AND ${unindexed('e.status')} IN ('init', 'executing')
      RETURNING e.id)`);
    ended.push('SELECT id FROM finished');
  }
  if (parts.fail) {
    ctes.push(
      rowsOf('fl', 'executions', p()),
      `failed AS (
      UPDATE executions e SET status = 'failed', finished_at = ${now}, err_code = fl.err_code, err_msg = fl.err_msg
        FROM fl WHERE e.id = fl.id AND e.id = ANY(ARRAY(SELECT id FROM fl)) AND ${unindexed('e.status')} IN ('init', 'executing')
      RETURNING e.id)`,
      // Nodes not yet started never start once the run has failed; siblings in flight may still finish.
      `cleared AS (UPDATE node_executions n SET runnable_at = NULL WHERE n.execution_id = ANY(ARRAY(SELECT id FROM fl)) AND n.runnable_at IS NOT NULL)`,
    );
    ended.push('SELECT id FROM failed');
  }
  return `WITH ${ctes.join(',\n    ')}
    SELECT ${ended.length ? `ARRAY(${ended.join(' UNION ALL ')})` : 'CAST(ARRAY[] AS TEXT[])'} AS ended`;
};

/** What the advance rule decided for a batch of executions, as the rows to write. */
export interface Decided {
  release: { execution_id: string; node_id: string }[];
  skip: { execution_id: string; node_id: string }[];
  finish: string[];
  fail: { id: string; err_code: string; err_msg: string }[];
}

export async function advanceInOne(trx: Trx, profile: BackendProfile, decided: Decided, now: number): Promise<Set<string>> {
  const parts = { release: decided.release.length > 0, skip: decided.skip.length > 0, finish: decided.finish.length > 0, fail: decided.fail.length > 0 };
  if (!parts.release && !parts.skip && !parts.finish && !parts.fail) return new Set();
  const params: unknown[] = [now];
  if (parts.release) params.push(JSON.stringify(decided.release));
  if (parts.skip) params.push(JSON.stringify(decided.skip));
  if (parts.finish) params.push(decided.finish);
  if (parts.fail) params.push(JSON.stringify(decided.fail));
  const key = `turn advance${Object.entries(parts).map(([k, on]) => (on ? ` ${k}` : '')).join('')}`;
  const [row] = await run<{ ended: string[] }>(trx, statement(profile, key, ADVANCE(parts), { prepared: 'queue' }), params);
  return new Set(row!.ended);
}
