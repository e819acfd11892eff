import { sql, type Kysely, type Transaction } from 'kysely';
import { executionEvent, type ExecutionFacts } from '../../delivery/payloads.ts';
import type { NewEvent } from '../delivery.ts';
import { nodeKey, type AdvanceNode, type Backlog, type ClaimedWork, type ExecutionStatus, type NodeContext, type NodeStatus, type SchedulingRules } from '../store.ts';
import type { BackendProfile } from './profile.ts';
import { notifyWork } from './notify.ts';
import { writeEvents } from './outbox.ts';
import { fromJson, toExecution } from './rows.ts';
import type { ExecutionsTable, Tables } from './tables.ts';
import { transaction } from './tx.ts';
import { chunks, valuesCte } from './values.ts';

/**
 * The work queue. Runnable nodes carry `runnable_at`; claiming moves them to `executing` under a
 * lease. Every transition names the lease owner and the prior state in its WHERE clause, so a worker
 * whose lease was lost (abort, timeout, reclaim after a crash) writes nothing.
 */
type Db = Kysely<Tables>;
type Trx = Transaction<Tables>;

/** The execution fields a transition reads under the execution's lock (events report them). */
export type Head = Pick<ExecutionsTable, 'id' | 'status' | 'workspace_id' | 'workflow_id' | 'trigger' | 'created_at' | 'started_at'>;

export const headFacts = (h: Head): ExecutionFacts => ({
  executionId: h.id,
  workspaceId: h.workspace_id,
  canvasId: h.workflow_id,
  trigger: h.trigger,
  createdAt: Number(h.created_at),
  startedAt: h.started_at === null ? undefined : Number(h.started_at),
});

/**
 * Leases up to `limit` runnable nodes to `workerId`, records each attempt's start, starts their
 * executions, and reads what their tasks need: the execution and the outputs of its ended nodes.
 */
export async function claimIn(trx: Trx, profile: BackendProfile, workerId: string, limit: number, now: number, leaseMs: number, events: NewEvent[]): Promise<ClaimedWork[]> {
  const lock = profile.skipLocked ? sql`FOR UPDATE SKIP LOCKED` : sql``;
  const { rows } = await sql<{ execution_id: string; node_id: string; attempts: number }>`
    UPDATE node_executions
       SET status = 'executing', runnable_at = NULL, lease_owner = ${workerId},
           lease_expires_at = ${now + leaseMs}, attempts = attempts + 1,
           started_at = COALESCE(started_at, ${now})
     WHERE (execution_id, node_id) IN (
           SELECT execution_id, node_id FROM node_executions
            WHERE runnable_at IS NOT NULL AND runnable_at <= ${now}
            ORDER BY runnable_at
            LIMIT ${limit} ${lock})
    RETURNING execution_id, node_id, attempts`.execute(trx);
  if (rows.length === 0) return [];
  await trx
    .insertInto('node_attempts')
    .values(
      rows.map((r) => ({
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
      })),
    )
    .execute();
  const executionIds = [...new Set(rows.map((r) => r.execution_id))];
  const started = await trx
    .updateTable('executions')
    .set({ status: 'executing', started_at: now })
    .where('id', 'in', executionIds)
    .where('status', '=', 'init')
    .returning(['id', 'status', 'workspace_id', 'workflow_id', 'trigger', 'created_at', 'started_at'])
    .execute();
  for (const e of started) events.push(executionEvent(headFacts(e), 'execution.started', now));

  const [executions, ended] = await Promise.all([
    trx.selectFrom('executions').selectAll().where('id', 'in', executionIds).execute(),
    trx
      .selectFrom('node_executions')
      .select(['execution_id', 'node_id', 'status', 'output', 'messages'])
      .where('execution_id', 'in', executionIds)
      .where('status', 'in', ['finish', 'failed', 'skipped'])
      .execute(),
  ]);
  const byId = new Map(executions.map((e) => [e.id, toExecution(e)]));
  const endedBy = new Map<string, NodeContext[]>();
  for (const n of ended) {
    let list = endedBy.get(n.execution_id);
    if (!list) endedBy.set(n.execution_id, (list = []));
    list.push({ nodeId: n.node_id, status: n.status as NodeStatus, output: fromJson(n.output), messages: fromJson<unknown[]>(n.messages) });
  }
  return rows.map((r) => ({
    executionId: r.execution_id,
    nodeId: r.node_id,
    attempt: Number(r.attempts),
    execution: byId.get(r.execution_id)!,
    ended: endedBy.get(r.execution_id) ?? [],
  }));
}

export async function heartbeat(db: Db, workerId: string, now: number, leaseMs: number): Promise<Set<string>> {
  const rows = await db
    .updateTable('node_executions')
    .set({ lease_expires_at: now + leaseMs })
    .where('lease_owner', '=', workerId)
    .where('status', '=', 'executing')
    .returning(['execution_id', 'node_id'])
    .execute();
  return new Set(rows.map((r) => nodeKey(r.execution_id, r.node_id)));
}

/**
 * Applies the advance rule's decision for each execution: releases or skips what became ready, and
 * ends the executions with nothing left — a few statements for the whole batch, not a few per
 * execution. The caller holds the executions' locks.
 */
export async function applyAdvances(
  trx: Trx,
  runs: readonly { head: Head; nodes: AdvanceNode[] }[],
  rules: Pick<SchedulingRules, 'advance'>,
  now: number,
  events: NewEvent[],
): Promise<{ released: number; status?: ExecutionStatus }[]> {
  const decisions = runs.map((r) => rules.advance(r.nodes));
  const pairs = (pick: (d: (typeof decisions)[number]) => string[]) =>
    runs.flatMap((r, i) => pick(decisions[i]!).map((node_id) => ({ execution_id: r.head.id, node_id })));
  // A join on the primary key, not `(a, b) IN (SELECT …)`, which PostgreSQL planned as a scan.
  const initNodes = sql`node_executions.execution_id = v.execution_id AND node_executions.node_id = v.node_id AND node_executions.status = 'init'`;
  for (const part of chunks(pairs((d) => d.runnable), 2)) {
    await sql`${valuesCte(PAIR_COLUMNS, part)} UPDATE node_executions SET runnable_at = ${now} FROM v WHERE ${initNodes} AND node_executions.runnable_at IS NULL`.execute(trx);
  }
  for (const part of chunks(pairs((d) => d.skipped), 2)) {
    await sql`${valuesCte(PAIR_COLUMNS, part)} UPDATE node_executions SET status = 'skipped', finished_at = ${now} FROM v WHERE ${initNodes}`.execute(trx);
  }

  const finishing = runs.filter((_, i) => decisions[i]!.outcome?.status === 'finish').map((r) => r.head.id);
  const failing = runs.flatMap((r, i) => {
    const o = decisions[i]!.outcome;
    return o?.status === 'failed' ? [{ id: r.head.id, err_code: o.errCode, err_msg: o.errMsg }] : [];
  });
  const endedNow = new Set<string>();
  for (const part of chunks(finishing, 1)) {
    const rows = await trx
      .updateTable('executions')
      .set({ status: 'finish', finished_at: now, err_code: null, err_msg: null })
      .where('id', 'in', part)
      .where('status', 'in', ['init', 'executing'])
      .returning('id')
      .execute();
    for (const r of rows) endedNow.add(r.id);
  }
  for (const part of chunks(failing, 3)) {
    const { rows } = await sql<{ id: string }>`${valuesCte(FAIL_COLUMNS, part)}
      UPDATE executions SET status = 'failed', finished_at = ${now}, err_code = v.err_code, err_msg = v.err_msg
        FROM v WHERE executions.id = v.id AND executions.status IN ('init', 'executing')
      RETURNING executions.id`.execute(trx);
    for (const r of rows) endedNow.add(r.id);
    // Nodes not yet started never start once the run has failed; siblings in flight may still finish.
    await trx.updateTable('node_executions').set({ runnable_at: null }).where('execution_id', 'in', part.map((f) => f.id)).where('runnable_at', 'is not', null).execute();
  }

  return runs.map((r, i) => {
    const d = decisions[i]!;
    const o = d.outcome;
    if (!o || !endedNow.has(r.head.id)) return { released: d.runnable.length };
    const facts = { ...headFacts(r.head), finishedAt: now, ...(o.status === 'failed' ? { errCode: o.errCode, errMsg: o.errMsg } : {}) };
    events.push(executionEvent(facts, o.status === 'finish' ? 'execution.finished' : 'execution.failed', now));
    return { released: d.runnable.length, status: o.status };
  });
}

const PAIR_COLUMNS = { execution_id: 'TEXT', node_id: 'TEXT' } as const;
const FAIL_COLUMNS = { id: 'TEXT', err_code: 'TEXT', err_msg: 'TEXT' } as const;

/** One execution's advance (replay, abort paths): the batch verb with a batch of one. */
export async function applyAdvance(
  trx: Trx,
  head: Head,
  nodes: AdvanceNode[],
  rules: Pick<SchedulingRules, 'advance'>,
  now: number,
  events: NewEvent[],
): Promise<{ released: number; status?: ExecutionStatus }> {
  return (await applyAdvances(trx, [{ head, nodes }], rules, now, events))[0]!;
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
  if (rows.length) await notifyWork(trx, profile);
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
    db.selectFrom('executions').select((eb) => eb.fn.countAll<number>().as('n')).where('status', '=', 'init').executeTakeFirstOrThrow(),
    db
      .selectFrom('node_executions')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('runnable_at', 'is not', null)
      .where('runnable_at', '<=', now)
      .executeTakeFirstOrThrow(),
  ]);
  return { pendingExecutions: Number(pending.n), runnableNodes: Number(runnable.n) };
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
    const r = await applyAdvance(trx, head, nodes.map(toAdvanceNode), rules, now, events);
    await writeEvents(trx, profile, events);
    if (r.released) await notifyWork(trx, profile);
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
