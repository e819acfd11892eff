import { sql, type Kysely, type Transaction } from 'kysely';
import { advance, type AdvanceNode } from '../advance.ts';
import { nodeKey, type Backlog, type ClaimedNode, type CompleteNodeInput, type CompleteNodeOutcome, type NodeStatus } from '../store.ts';
import type { BackendProfile } from './profile.ts';
import { notifyWork } from './notify.ts';
import { emitEvent, executionEvent, nodeEvent } from './events.ts';
import { fromJson, toJson } from './rows.ts';
import type { Tables } from './tables.ts';
import { transaction } from './tx.ts';

/**
 * The work queue. Runnable nodes carry `runnable_at`; claiming moves them to `executing` under a
 * lease. Every transition names the lease owner and the prior state in its WHERE clause, so a worker
 * whose lease was lost (abort, timeout, reclaim after a crash) writes nothing.
 */
type Db = Kysely<Tables>;
type Trx = Transaction<Tables>;

export async function claimNodes(db: Db, profile: BackendProfile, workerId: string, limit: number, now: number, leaseMs: number): Promise<ClaimedNode[]> {
  const lock = profile.skipLocked ? sql`FOR UPDATE SKIP LOCKED` : sql``;
  return transaction(db, async (trx) => {
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
        })),
      )
      .execute();
    const executionIds = [...new Set(rows.map((r) => r.execution_id))];
    const started = await trx
      .updateTable('executions')
      .set({ status: 'executing', started_at: now })
      .where('id', 'in', executionIds)
      .where('status', '=', 'init')
      .returning(['id', 'workspace_id', 'workflow_id', 'trigger', 'created_at', 'started_at'])
      .execute();
    for (const e of started) await emitEvent(trx, profile, executionEvent(e, 'execution.started', now));
    return rows.map((r) => ({ executionId: r.execution_id, nodeId: r.node_id, attempt: Number(r.attempts) }));
  });
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

async function finishAttempt(trx: Trx, input: CompleteNodeInput, status: 'finish' | 'failed'): Promise<void> {
  const r = input.result;
  if (r.type === 'deferred') return;
  await trx
    .updateTable('node_attempts')
    .set({
      status,
      finished_at: input.now,
      http_status: r.httpStatus ?? null,
      err_code: r.type === 'finished' ? null : r.errCode,
      err_msg: r.type === 'finished' ? null : r.errMsg,
      next_attempt_at: r.type === 'retry' ? r.runAt : null,
    })
    .where('execution_id', '=', input.executionId)
    .where('node_id', '=', input.nodeId)
    .where('attempt', '=', input.attempt)
    .execute();
}

async function writeNode(trx: Trx, input: CompleteNodeInput): Promise<boolean> {
  const r = input.result;
  if (r.type === 'deferred') return deferNode(trx, input, r.runAt);
  const common = { lease_owner: null, lease_expires_at: null };
  const values =
    r.type === 'retry'
      ? { ...common, status: 'waiting', runnable_at: r.runAt, err_code: r.errCode, err_msg: r.errMsg }
      : {
          ...common,
          status: r.type === 'finished' ? 'finish' : 'failed',
          finished_at: input.now,
          output: r.type === 'finished' ? toJson(r.output) : null,
          drift: r.type === 'finished' ? toJson(r.drift) : null,
          messages: toJson(r.messages),
          usage: toJson(r.usage),
          err_code: r.type === 'failed' ? r.errCode : null,
          err_msg: r.type === 'failed' ? r.errMsg : null,
        };
  const res = await trx
    .updateTable('node_executions')
    .set(values)
    .where('execution_id', '=', input.executionId)
    .where('node_id', '=', input.nodeId)
    .where('lease_owner', '=', input.workerId)
    .where('status', '=', 'executing')
    .where('attempts', '=', input.attempt)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

async function release(trx: Trx, profile: BackendProfile, input: CompleteNodeInput): Promise<CompleteNodeOutcome> {
  return applyAdvance(trx, profile, input.executionId, input.now);
}

/** Releases or skips what became ready, and ends the execution when nothing is left. */
async function applyAdvance(trx: Trx, profile: BackendProfile, executionId: string, now: number): Promise<CompleteNodeOutcome> {
  const input = { executionId, now };
  const rows = await trx
    .selectFrom('node_executions')
    .select(['node_id', 'kind', 'deps', 'status', 'runnable_at', 'output', 'err_code', 'err_msg'])
    .where('execution_id', '=', input.executionId)
    .execute();
  const nodes: AdvanceNode[] = rows.map((r) => ({
    nodeId: r.node_id,
    kind: r.kind,
    deps: fromJson<string[]>(r.deps) ?? [],
    status: r.status as NodeStatus,
    runnable: r.runnable_at !== null,
    output: r.kind === 'condition' ? fromJson(r.output) : undefined,
    errCode: (r.err_code ?? undefined) as AdvanceNode['errCode'],
    errMsg: r.err_msg ?? undefined,
  }));
  const next = advance(nodes);
  const at = (ids: string[]) =>
    trx.updateTable('node_executions').where('execution_id', '=', input.executionId).where('node_id', 'in', ids).where('status', '=', 'init');
  if (next.runnable.length) {
    await at(next.runnable).set({ runnable_at: input.now }).where('runnable_at', 'is', null).execute();
    await notifyWork(trx, profile);
  }
  if (next.skipped.length) await at(next.skipped).set({ status: 'skipped', finished_at: input.now }).execute();
  if (!next.outcome) return { applied: true };

  const o = next.outcome;
  const ended = await trx
    .updateTable('executions')
    .set({
      status: o.status,
      finished_at: input.now,
      err_code: o.status === 'failed' ? o.errCode : null,
      err_msg: o.status === 'failed' ? o.errMsg : null,
    })
    .where('id', '=', input.executionId)
    .where('status', 'in', ['init', 'executing'])
    .returning(['id', 'workspace_id', 'workflow_id', 'trigger', 'created_at', 'started_at', 'finished_at', 'err_code', 'err_msg'])
    .executeTakeFirst();
  if (o.status === 'failed') {
    // Nodes not yet started never start once the run has failed; siblings in flight may still finish.
    await trx.updateTable('node_executions').set({ runnable_at: null }).where('execution_id', '=', input.executionId).where('runnable_at', 'is not', null).execute();
  }
  if (ended) await emitEvent(trx, profile, executionEvent(ended, o.status === 'finish' ? 'execution.finished' : 'execution.failed', input.now));
  return { applied: true, executionStatus: ended ? o.status : undefined };
}

/**
 * Takes the execution's row lock first: every transition of one execution (completion, abort,
 * timeout) then runs one at a time and sees the others' committed results.
 */
export async function lockExecution(trx: Trx, profile: BackendProfile, executionId: string) {
  let q = trx.selectFrom('executions').select(['id', 'status', 'workspace_id', 'workflow_id']).where('id', '=', executionId);
  if (profile.rowLocks) q = q.forUpdate();
  return q.executeTakeFirst();
}

/** Puts a claimed node back without counting the claim as an attempt, and drops that attempt's row. */
async function deferNode(trx: Trx, input: CompleteNodeInput, runAt: number): Promise<boolean> {
  const res = await trx
    .updateTable('node_executions')
    .set((eb) => ({ status: 'waiting', runnable_at: runAt, lease_owner: null, lease_expires_at: null, attempts: eb('attempts', '-', 1) }))
    .where('execution_id', '=', input.executionId)
    .where('node_id', '=', input.nodeId)
    .where('lease_owner', '=', input.workerId)
    .where('status', '=', 'executing')
    .where('attempts', '=', input.attempt)
    .executeTakeFirst();
  if (Number(res.numUpdatedRows) !== 1) return false;
  await trx
    .deleteFrom('node_attempts')
    .where('execution_id', '=', input.executionId)
    .where('node_id', '=', input.nodeId)
    .where('attempt', '=', input.attempt)
    .execute();
  return true;
}

export function completeNode(db: Db, profile: BackendProfile, input: CompleteNodeInput): Promise<CompleteNodeOutcome> {
  return transaction(db, async (trx) => {
    const execution = await lockExecution(trx, profile, input.executionId);
    if (!execution || !(await writeNode(trx, input))) return { applied: false };
    const r = input.result;
    if (r.type === 'deferred') return { applied: true };
    await finishAttempt(trx, input, r.type === 'finished' ? 'finish' : 'failed');
    if (r.type === 'retry') return { applied: true };
    const node = { execution, nodeId: input.nodeId, attempt: input.attempt, httpStatus: r.httpStatus };
    if (r.type === 'finished') {
      await emitEvent(trx, profile, nodeEvent(node, 'node.finished', input.now));
      if (r.drift !== undefined) {
        await emitEvent(trx, profile, {
          workspaceId: execution.workspace_id,
          type: 'node.contract_drift',
          executionId: execution.id,
          now: input.now,
          data: { executionId: execution.id, canvasId: execution.workflow_id, nodeId: input.nodeId, drift: r.drift },
        });
      }
    } else {
      await emitEvent(trx, profile, nodeEvent({ ...node, errCode: r.errCode, errMsg: r.errMsg }, 'node.failed', input.now));
    }
    return release(trx, profile, input);
  });
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
export function retryExecution(db: Db, profile: BackendProfile, executionId: string, now: number, deadlineAt: number): Promise<boolean> {
  return transaction(db, async (trx) => {
    if ((await lockExecution(trx, profile, executionId))?.status !== 'failed') return false;
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
    await applyAdvance(trx, profile, executionId, now);
    return true;
  });
}
