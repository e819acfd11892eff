import { sql, type Kysely, type Transaction } from 'kysely';
import { executionEvent } from '../../delivery/payloads.ts';
import type { NewEvent } from '../delivery.ts';
import { nodeKey, type AdvanceNode, type Backlog, type ClaimedWork, type ExecutionStatus, type NodeContext, type NodeStatus, type SchedulingRules } from '../store.ts';
import type { BackendProfile } from './profile.ts';
import { notifyWork } from './notify.ts';
import { writeEvents } from './outbox.ts';
import { fromJson, toExecution } from './rows.ts';
import type { ExecutionsTable, Tables } from './tables.ts';
import { transaction } from './tx.ts';
import { insertChunked } from './insert.ts';
import { inList, keyIn, keyParams, rowParams, run, statement, unindexed, type Placeholder } from './statements.ts';
import { chunks, keyedBy, valuesCte, valuesNames } from './values.ts';
import { advanceInOne, type Decided } from './turnStatements.ts';
import { HEAD_COLUMNS, headFacts, type Head } from './head.ts';

/**
 * The work queue. Runnable nodes carry `runnable_at`; claiming moves them to `executing` under a
 * lease. Every transition names the lease owner and the prior state in its WHERE clause, so a worker
 * whose lease was lost (abort, timeout, reclaim after a crash) writes nothing.
 */
type Db = Kysely<Tables>;
type Trx = Transaction<Tables>;

/** An execution's status as a guard no partial index can serve (see `unindexed`). */
const UNINDEXED_STATUS = unindexed('status');

/**
 * Leases up to `limit` runnable nodes to `workerId`, records each attempt's start, starts their
 * executions, and reads what their tasks need: the execution and the outputs of its ended nodes.
 */
export async function claimIn(trx: Trx, profile: BackendProfile, workerId: string, limit: number, now: number, leaseMs: number, events: NewEvent[]): Promise<ClaimedWork[]> {
  const got = profile.modifyingCtes ? await claimInOne(trx, profile, workerId, limit, now, leaseMs) : await claimInSteps(trx, profile, workerId, limit, now, leaseMs);
  for (const e of got.started) events.push(executionEvent(headFacts(e), 'execution.started', now));
  const byId = new Map(got.executions.map((e) => [e.id, toExecution(e)]));
  const endedBy = new Map<string, NodeContext[]>();
  for (const n of got.ended) {
    let list = endedBy.get(n.execution_id);
    if (!list) endedBy.set(n.execution_id, (list = []));
    list.push({ nodeId: n.node_id, status: n.status as NodeStatus, output: fromJson(n.output), messages: fromJson<unknown[]>(n.messages) });
  }
  return got.claimed.map((r) => ({
    executionId: r.execution_id,
    nodeId: r.node_id,
    attempt: Number(r.attempts),
    execution: byId.get(r.execution_id)!,
    ended: endedBy.get(r.execution_id) ?? [],
  }));
}

/** What a claim read: the leased nodes, the executions it started, every claimed node's execution and the outputs of their ended nodes. */
interface Claimed {
  claimed: { execution_id: string; node_id: string; attempts: number }[];
  started: Head[];
  executions: ExecutionsTable[];
  ended: { execution_id: string; node_id: string; status: string; output: string | null; messages: string | null }[];
}

/**
 * The lease itself: the oldest runnable nodes, skipping those another worker is claiming (PostgreSQL).
 * There the picked rows, locked by the pick, are updated by their physical address (`ctid`): as
 * `(execution_id, node_id) IN (SELECT …)` PostgreSQL sometimes hash-joined the pick against a
 * sequential scan of the whole table.
 */
const leaseNodes = (p: { owner: string; until: string; at: string; due: string; limit: string }, skipLocked: boolean) => {
  const pick = (columns: string) => `SELECT ${columns} FROM node_executions
            WHERE runnable_at IS NOT NULL AND runnable_at <= ${p.due}
            ORDER BY runnable_at
            LIMIT ${p.limit} ${skipLocked ? 'FOR UPDATE SKIP LOCKED' : ''}`;
  return `
    UPDATE node_executions
       SET status = 'executing', runnable_at = NULL, lease_owner = ${p.owner},
           lease_expires_at = ${p.until}, attempts = attempts + 1,
           started_at = COALESCE(started_at, ${p.at})
     WHERE ${skipLocked ? `ctid = ANY(ARRAY(${pick('ctid')}))` : `(execution_id, node_id) IN (${pick('execution_id, node_id')})`}
    RETURNING execution_id, node_id, attempts`;
};
/** In this order: worker, lease end, now, now, limit. */
const leaseParams = (p: Placeholder) => ({ owner: p(), until: p(), at: p(), due: p(), limit: p() });

/** Statement by statement (SQLite: no round trips to save, and no data-modifying CTEs). */
async function claimInSteps(trx: Trx, profile: BackendProfile, workerId: string, limit: number, now: number, leaseMs: number): Promise<Claimed> {
  const claimed = await run<Claimed['claimed'][number]>(trx, statement(profile, 'claim', (p) => leaseNodes(leaseParams(p), profile.skipLocked)), [workerId, now + leaseMs, now, now, limit]);
  const out: Claimed = { claimed, started: [], executions: [], ended: [] };
  if (claimed.length === 0) return out;
  await insertChunked(
    trx,
    profile,
    'node_attempts',
    claimed.map((r) => ({
      execution_id: r.execution_id,
      node_id: r.node_id,
      attempt: Number(r.attempts),
      worker_id: workerId,
      status: 'executing',
      http_status: null,
      err_code: null,
      err_msg: null,
      started_at: now,
      finished_at: null,
      next_attempt_at: null,
      input: null,
    })),
  );
  const executionIds = [...new Set(claimed.map((r) => r.execution_id))];
  for (const part of chunks(profile, executionIds, 2)) {
    const start = statement(
      profile,
      `start executions ${part.length}`,
      (p) => `UPDATE executions SET status = 'executing', started_at = ${p()} WHERE id IN (${inList(p, part.length)}) AND status = 'init' RETURNING ${HEAD_COLUMNS}`,
    );
    out.started.push(...(await run<Head>(trx, start, [now, ...part])));
    const read = statement(profile, `claimed executions ${part.length}`, (p) => `SELECT * FROM executions WHERE id IN (${inList(p, part.length)})`);
    out.executions.push(...(await run<ExecutionsTable>(trx, read, part)));
    const outputs = statement(
      profile,
      `ended nodes ${part.length}`,
      (p) => `SELECT execution_id, node_id, status, output, messages FROM node_executions
               WHERE execution_id IN (${inList(p, part.length)}) AND status IN ('finish', 'failed', 'skipped')`,
    );
    out.ended.push(...(await run<Claimed['ended'][number]>(trx, outputs, part)));
  }
  return out;
}

/**
 * The same claim as one statement (PostgreSQL): lease, attempt rows, execution starts and the reads,
 * as data-modifying CTEs — one round trip where the steps take five. Every part of one statement sees
 * the snapshot from before it, so the executions read here still show the runs it started as `init`:
 * those are patched from `started`.
 *
 * The claimed ids reach the other parts as `= ANY(ARRAY(…))`, which can only be an index lookup.
 * As `IN (SELECT …)` PostgreSQL, estimating the claim at hundreds of rows, hash-joined it against a
 * sequential scan of `node_executions`: 2–3.5 ms a claim at 30,000 rows (auto_explain), growing with
 * the table, on a new database that autovacuum had not analysed yet.
 */
async function claimInOne(trx: Trx, profile: BackendProfile, workerId: string, limit: number, now: number, leaseMs: number): Promise<Claimed> {
  const text = statement(
    profile,
    'claim in one',
    (p) => {
      const lease = leaseParams(p);
      return `
    WITH claimed AS (${leaseNodes(lease, profile.skipLocked)}),
    attempts AS (
      INSERT INTO node_attempts (execution_id, node_id, attempt, worker_id, status, started_at)
      SELECT execution_id, node_id, attempts, ${lease.owner}, 'executing', ${lease.at} FROM claimed),
    started AS (
      UPDATE executions SET status = 'executing', started_at = ${lease.at}
       WHERE id = ANY(ARRAY(SELECT execution_id FROM claimed)) AND ${UNINDEXED_STATUS} = 'init'
      RETURNING ${HEAD_COLUMNS})
    SELECT
      (SELECT coalesce(json_agg(c), '[]') FROM claimed c) AS claimed,
      (SELECT coalesce(json_agg(s), '[]') FROM started s) AS started,
      (SELECT coalesce(json_agg(e), '[]') FROM executions e WHERE e.id = ANY(ARRAY(SELECT execution_id FROM claimed))) AS executions,
      (SELECT coalesce(json_agg(json_build_object('execution_id', n.execution_id, 'node_id', n.node_id, 'status', n.status, 'output', n.output, 'messages', n.messages)), '[]')
         FROM node_executions n WHERE n.execution_id = ANY(ARRAY(SELECT execution_id FROM claimed)) AND n.status IN ('finish', 'failed', 'skipped')) AS ended`;
    },
    { prepared: 'queue' },
  );
  const [row] = await run<Claimed>(trx, text, [workerId, now + leaseMs, now, now, limit]);
  const got = row!;
  const started = new Map(got.started.map((h) => [h.id, h]));
  got.executions = got.executions.map((e) => (started.has(e.id) ? { ...e, status: 'executing', started_at: now } : e));
  return got;
}

/**
 * Looked up by the runs the worker names, not by `lease_owner`: PostgreSQL, planning from statistics
 * taken while many rows were leased, read the whole node table every heartbeat (12 ms at 33,000 rows,
 * twice a second, growing with the history), and the owner is written so the index of leases cannot
 * serve it either (`unindexed`).
 */
export async function heartbeat(db: Db, profile: BackendProfile, workerId: string, executionIds: readonly string[], now: number, leaseMs: number): Promise<Set<string>> {
  const held = new Set<string>();
  for (const part of chunks(profile, [...new Set(executionIds)], 1)) {
    const text = statement(
      profile,
      `heartbeat ${part.length}`,
      (p) => `UPDATE node_executions SET lease_expires_at = ${p()}
               WHERE ${keyIn(profile, p, 'execution_id', part.length)} AND ${unindexed('lease_owner')} = ${p()} AND status = 'executing'
               RETURNING execution_id, node_id`,
    );
    for (const r of await run<{ execution_id: string; node_id: string }>(db, text, [now + leaseMs, ...keyParams(profile, part), workerId])) held.add(nodeKey(r.execution_id, r.node_id));
  }
  return held;
}

/**
 * Applies the advance rule's decision for each execution: releases or skips what became ready, and
 * ends the executions with nothing left — a few statements for the whole batch, not a few per
 * execution. The caller holds the executions' locks.
 */
export async function applyAdvances(
  trx: Trx,
  profile: BackendProfile,
  runs: readonly { head: Head; nodes: AdvanceNode[] }[],
  rules: Pick<SchedulingRules, 'advance'>,
  now: number,
  events: NewEvent[],
): Promise<{ released: number; status?: ExecutionStatus }[]> {
  const decisions = runs.map((r) => rules.advance(r.nodes));
  const pairs = (pick: (d: (typeof decisions)[number]) => string[]) =>
    runs.flatMap((r, i) => pick(decisions[i]!).map((node_id) => ({ execution_id: r.head.id, node_id })));
  const decided: Decided = {
    release: pairs((d) => d.runnable),
    skip: pairs((d) => d.skipped),
    finish: runs.filter((_, i) => decisions[i]!.outcome?.status === 'finish').map((r) => r.head.id),
    fail: runs.flatMap((r, i) => {
      const o = decisions[i]!.outcome;
      return o?.status === 'failed' ? [{ id: r.head.id, err_code: o.errCode, err_msg: o.errMsg }] : [];
    }),
  };
  const endedNow = profile.modifyingCtes ? await advanceInOne(trx, profile, decided, now) : await advanceInSteps(trx, profile, decided, now);

  return runs.map((r, i) => {
    const d = decisions[i]!;
    const o = d.outcome;
    if (!o || !endedNow.has(r.head.id)) return { released: d.runnable.length };
    const facts = headFacts(r.head, { finishedAt: now, errCode: o.status === 'failed' ? o.errCode : undefined, errMsg: o.status === 'failed' ? o.errMsg : undefined });
    events.push(executionEvent(facts, o.status === 'finish' ? 'execution.finished' : 'execution.failed', now));
    return { released: d.runnable.length, status: o.status };
  });
}

/** The same decisions statement by statement (SQLite: no round trips to save). Returns the runs it ended. */
async function advanceInSteps(
  trx: Trx,
  profile: BackendProfile,
  decided: Decided,
  now: number,
): Promise<Set<string>> {
  // A join on the primary key, not `(a, b) IN (SELECT …)`, which PostgreSQL planned as a scan.
  const initNodes = `node_executions.execution_id = v.execution_id AND node_executions.node_id = v.node_id AND node_executions.status = 'init'${keyedBy(profile, 'node_executions', 'execution_id')}`;
  const pairNames = valuesNames(PAIR_COLUMNS);
  for (const part of chunks(profile, decided.release, pairNames.length)) {
    const text = statement(
      profile,
      `release ${part.length}`,
      (p) => `${valuesCte(p, PAIR_COLUMNS, part.length)} UPDATE node_executions SET runnable_at = ${p()} FROM v WHERE ${initNodes} AND node_executions.runnable_at IS NULL`,
    );
    await run(trx, text, [...rowParams(part, pairNames), now]);
  }
  for (const part of chunks(profile, decided.skip, pairNames.length)) {
    const text = statement(
      profile,
      `skip ${part.length}`,
      (p) => `${valuesCte(p, PAIR_COLUMNS, part.length)} UPDATE node_executions SET status = 'skipped', finished_at = ${p()} FROM v WHERE ${initNodes}`,
    );
    await run(trx, text, [...rowParams(part, pairNames), now]);
  }
  const endedNow = new Set<string>();
  for (const part of chunks(profile, decided.finish, 1)) {
    const text = statement(
      profile,
      `finish executions ${part.length}`,
      (p) => `UPDATE executions SET status = 'finish', finished_at = ${p()}, err_code = NULL, err_msg = NULL
               WHERE ${keyIn(profile, p, 'id', part.length)} AND ${UNINDEXED_STATUS} IN ('init', 'executing') RETURNING id`,
    );
    for (const r of await run<{ id: string }>(trx, text, [now, ...keyParams(profile, part)])) endedNow.add(r.id);
  }
  const failNames = valuesNames(FAIL_COLUMNS);
  for (const part of chunks(profile, decided.fail, failNames.length)) {
    const text = statement(
      profile,
      `fail executions ${part.length}`,
      (p) => `${valuesCte(p, FAIL_COLUMNS, part.length)}
      UPDATE executions SET status = 'failed', finished_at = ${p()}, err_code = v.err_code, err_msg = v.err_msg
        FROM v WHERE executions.id = v.id AND ${UNINDEXED_STATUS} IN ('init', 'executing')${keyedBy(profile, 'executions', 'id')}
      RETURNING executions.id`,
    );
    for (const r of await run<{ id: string }>(trx, text, [...rowParams(part, failNames), now])) endedNow.add(r.id);
    // Nodes not yet started never start once the run has failed; siblings in flight may still finish.
    await trx.updateTable('node_executions').set({ runnable_at: null }).where('execution_id', 'in', part.map((f) => f.id)).where('runnable_at', 'is not', null).execute();
  }
  return endedNow;
}

const PAIR_COLUMNS = { execution_id: 'TEXT', node_id: 'TEXT' } as const;
const FAIL_COLUMNS = { id: 'TEXT', err_code: 'TEXT', err_msg: 'TEXT' } as const;

/** One execution's advance (replay, abort paths): the batch verb with a batch of one. */
export async function applyAdvance(
  trx: Trx,
  profile: BackendProfile,
  head: Head,
  nodes: AdvanceNode[],
  rules: Pick<SchedulingRules, 'advance'>,
  now: number,
  events: NewEvent[],
): Promise<{ released: number; status?: ExecutionStatus }> {
  return (await applyAdvances(trx, profile, [{ head, nodes }], rules, now, events))[0]!;
}

/**
 * Takes the execution's row lock first: every transition of one execution (completion, abort,
 * timeout) then runs one at a time and sees the others' committed results.
 */
export async function lockExecution(trx: Trx, profile: BackendProfile, executionId: string): Promise<Head | undefined> {
  let q = trx.selectFrom('executions').select(['id', 'status', 'workspace_id', 'workflow_id', 'trigger', 'created_at', 'started_at']).where('id', '=', executionId);
  if (profile.rowLocks) q = q.forUpdate();
  return q.executeTakeFirst();
}

/** Shared by lease expiry and release: the node goes back to the queue, its attempt is closed as lost. */
async function requeue(trx: Trx, profile: BackendProfile, where: 'expired' | 'owner', workerId: string | null, now: number, message: string): Promise<number> {
  let q = trx
    .updateTable('node_executions')
    .set({ status: 'waiting', runnable_at: now, lease_owner: null, lease_expires_at: null })
    .where('status', '=', 'executing')
    .where('lease_owner', 'is not', null);
  if (where === 'expired') q = q.where('lease_expires_at', '<', now);
  else if (workerId !== null) q = q.where('lease_owner', '=', workerId);
  const rows = await q.returning(['execution_id', 'node_id', 'attempts']).execute();
  for (const r of rows) {
    await trx
      .updateTable('node_attempts')
      .set({ status: 'failed', err_code: 'WORKER_LOST', err_msg: message, finished_at: now })
      .where('execution_id', '=', r.execution_id)
      .where('node_id', '=', r.node_id)
      .where('attempt', '=', Number(r.attempts))
      .where('status', '=', 'executing')
      .execute();
  }
  if (rows.length) await notifyWork(trx, profile, 'nodes');
  return rows.length;
}

export function requeueExpiredLeases(db: Db, profile: BackendProfile, now: number): Promise<number> {
  return transaction(db, (trx) => requeue(trx, profile, 'expired', null, now, 'lease expired: the worker stopped heartbeating'));
}

export function releaseLeases(db: Db, profile: BackendProfile, workerId: string | null, now: number): Promise<number> {
  return transaction(db, (trx) => requeue(trx, profile, 'owner', workerId, now, 'released: the worker shut down or restarted'));
}

export async function backlog(db: Db, now: number): Promise<Backlog> {
  const [pending, runnable] = await Promise.all([
    // A literal status: SQLite counts the partial index `executions_pending` (the unstarted runs only)
    // without re-preparing the statement for each bound value.
    db.selectFrom('executions').select((eb) => eb.fn.countAll<number>().as('n')).where('status', '=', sql.lit('init')).executeTakeFirstOrThrow(),
    db
      .selectFrom('node_executions')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('runnable_at', 'is not', null)
      .where('runnable_at', '<=', now)
      .executeTakeFirstOrThrow(),
  ]);
  return { pendingExecutions: Number(pending.n), runnableNodes: Number(runnable.n) };
}

/** A literal status, as in `backlog`: the partial index `executions_pending` holds exactly these rows. */
export async function pendingExecutions(db: Db, profile: BackendProfile, cap: number): Promise<number> {
  const text = statement(profile, 'pending executions', (p) => `SELECT count(*) AS n FROM (SELECT 1 FROM executions WHERE status = 'init' LIMIT ${p()}) AS pending`, {
    prepared: true,
  });
  const [row] = await run<{ n: number | string }>(db, text, [Math.max(0, Math.floor(cap))]);
  return Number(row!.n);
}

/**
 * Resumes a failed (or aborted) execution: its failed nodes go back to `init` and are released as
 * their dependencies allow; finished nodes keep their results and never run again. False when the
 * execution is not failed — which makes a second replay request a no-op while the first runs.
 */
export function retryExecution(db: Db, profile: BackendProfile, executionId: string, now: number, deadlineAt: number, rules: Pick<SchedulingRules, 'advance'>): Promise<boolean> {
  return transaction(db, async (trx) => {
    const head = await lockExecution(trx, profile, executionId);
    if (head?.status !== 'failed') return false;
    await trx
      .updateTable('node_executions')
      .set({ status: 'init', err_code: null, err_msg: null, finished_at: null, runnable_at: null, lease_owner: null, lease_expires_at: null })
      .where('execution_id', '=', executionId)
      .where('status', '=', 'failed')
      .execute();
    await trx
      .updateTable('executions')
      .set({ status: 'executing', err_code: null, err_msg: null, finished_at: null, deadline_at: deadlineAt })
      .where('id', '=', executionId)
      .execute();
    const nodes = await trx
      .selectFrom('node_executions')
      .select(['node_id', 'kind', 'deps', 'status', 'runnable_at', 'output', 'err_code', 'err_msg'])
      .where('execution_id', '=', executionId)
      .orderBy('position')
      .execute();
    const events: NewEvent[] = [];
    const r = await applyAdvance(trx, profile, head, nodes.map(toAdvanceNode), rules, now, events);
    await writeEvents(trx, profile, events);
    if (r.released) await notifyWork(trx, profile, 'nodes');
    return true;
  });
}

type AdvanceRow = Pick<Tables['node_executions'], 'node_id' | 'kind' | 'deps' | 'status' | 'runnable_at' | 'output' | 'err_code' | 'err_msg'>;

export const toAdvanceNode = (r: AdvanceRow): AdvanceNode => ({
  nodeId: r.node_id,
  kind: r.kind,
  deps: fromJson<string[]>(r.deps) ?? [],
  status: r.status as NodeStatus,
  runnable: r.runnable_at !== null,
  output: r.kind === 'condition' ? fromJson(r.output) : undefined,
  errCode: (r.err_code ?? undefined) as AdvanceNode['errCode'],
  errMsg: r.err_msg ?? undefined,
});
