import type { Kysely, Transaction } from 'kysely';
import type { ErrorCode } from '../../errors.ts';
import type {
  AttemptRecord,
  CreateExecutionResult,
  ExecutionRecord,
  IdempotencyClaim,
  ListExecutionsQuery,
  NewExecution,
  NodeRecord,
} from '../store.ts';
import type { BackendProfile } from './profile.ts';
import { toAttempt, toExecution, toJson, toNode } from './rows.ts';
import { lockExecution } from './scheduling.ts';
import { notifyWork } from './notify.ts';
import { emitEvent, executionEvent, nodeEvent } from './events.ts';
import type { Tables } from './tables.ts';
import { transaction } from './tx.ts';

type Db = Kysely<Tables>;
type Trx = Transaction<Tables>;

/** Looks the key up; an expired key is deleted so the new request can take it. */
async function checkIdempotency(trx: Trx, workspaceId: string, idem: IdempotencyClaim, now: number): Promise<CreateExecutionResult | undefined> {
  const row = await trx
    .selectFrom('idempotency_keys')
    .selectAll()
    .where('workspace_id', '=', workspaceId)
    .where('scope', '=', idem.scope)
    .where('key', '=', idem.key)
    .executeTakeFirst();
  if (!row) return undefined;
  if (Number(row.expires_at) <= now) {
    await trx
      .deleteFrom('idempotency_keys')
      .where('workspace_id', '=', workspaceId)
      .where('scope', '=', idem.scope)
      .where('key', '=', idem.key)
      .execute();
    return undefined;
  }
  if (row.request_hash !== idem.requestHash) return { type: 'key_reused' };
  return { type: 'replayed', executionId: row.execution_id, response: JSON.parse(row.response) };
}

async function insertExecution(trx: Trx, e: NewExecution, idem?: IdempotencyClaim): Promise<void> {
  await trx
    .insertInto('executions')
    .values({
      id: e.executionId,
      workspace_id: e.workspaceId,
      workflow_id: e.canvasId,
      workflow_version: e.version,
      status: 'init',
      trigger: e.trigger,
      variables: JSON.stringify(e.variables),
      err_code: null,
      err_msg: null,
      created_at: e.now,
      started_at: null,
      finished_at: null,
      deadline_at: e.deadlineAt,
      triggered_by: e.triggeredBy ?? null,
      trigger_key: idem?.key ?? null,
    })
    .execute();
  await trx
    .insertInto('node_executions')
    .values(
      e.nodes.map((n, position) => ({
        execution_id: e.executionId,
        node_id: n.nodeId,
        position,
        kind: n.kind,
        title: n.title ?? null,
        deps: JSON.stringify(n.deps),
        status: 'init',
        attempts: 0,
        // Roots are released to the queue in the same transaction that accepts the run.
        runnable_at: n.deps.length === 0 ? e.now : null,
        lease_owner: null,
        lease_expires_at: null,
        output: null,
        messages: null,
        usage: null,
        err_code: null,
        err_msg: null,
        started_at: null,
        finished_at: null,
      })),
    )
    .execute();
}

/** The run's callbackUrl exists before the run can emit anything: same transaction. */
async function insertCallbackEndpoint(trx: Trx, e: NewExecution): Promise<void> {
  const cb = e.callback!;
  await trx
    .insertInto('event_endpoints')
    .values({
      id: cb.endpointId,
      workspace_id: e.workspaceId,
      url: cb.url,
      description: `callbackUrl of ${e.executionId}`,
      event_types: JSON.stringify(cb.eventTypes),
      enabled: 1,
      ordered: 1,
      headers: null,
      rate_limit: null,
      secret: cb.secret,
      previous_secret: null,
      previous_secret_expires_at: null,
      execution_id: e.executionId,
      disabled_reason: null,
      failing_since: null,
      created_at: e.now,
      updated_at: e.now,
      deleted_at: null,
    })
    .execute();
}

export async function createExecution(
  db: Db,
  profile: BackendProfile,
  e: NewExecution,
  idem?: IdempotencyClaim,
): Promise<CreateExecutionResult> {
  try {
    return await transaction(db, async (trx) => {
      if (idem) {
        const seen = await checkIdempotency(trx, e.workspaceId, idem, e.now);
        if (seen) return seen;
      }
      await insertExecution(trx, e, idem);
      if (e.callback) await insertCallbackEndpoint(trx, e);
      await notifyWork(trx, profile);
      if (idem) {
        await trx
          .insertInto('idempotency_keys')
          .values({
            workspace_id: e.workspaceId,
            scope: idem.scope,
            key: idem.key,
            request_hash: idem.requestHash,
            execution_id: e.executionId,
            response: JSON.stringify(idem.response),
            created_at: e.now,
            expires_at: e.now + idem.ttlMs,
          })
          .execute();
      }
      return { type: 'created', executionId: e.executionId } as const;
    });
  } catch (err) {
    // Another process committed the same key between our read and our insert (PostgreSQL): the
    // unique index decided, so answer as the loser of the race — a replay or a reuse.
    if (idem && profile.isUniqueViolation(err)) {
      const seen = await transaction(db, (trx) => checkIdempotency(trx, e.workspaceId, idem, e.now));
      if (seen) return seen;
    }
    throw err;
  }
}

export async function getExecution(db: Db, workspaceId: string, id: string): Promise<ExecutionRecord | undefined> {
  const r = await db.selectFrom('executions').selectAll().where('id', '=', id).where('workspace_id', '=', workspaceId).executeTakeFirst();
  return r && toExecution(r);
}

export async function loadExecution(db: Db, id: string): Promise<ExecutionRecord | undefined> {
  const r = await db.selectFrom('executions').selectAll().where('id', '=', id).executeTakeFirst();
  return r && toExecution(r);
}

export async function listExecutions(db: Db, q: ListExecutionsQuery): Promise<ExecutionRecord[]> {
  let query = db.selectFrom('executions').selectAll().where('workspace_id', '=', q.workspaceId);
  if (q.canvasId) query = query.where('workflow_id', '=', q.canvasId);
  if (q.status) query = query.where('status', '=', q.status);
  if (q.trigger) query = query.where('trigger', '=', q.trigger);
  if (q.since !== undefined) query = query.where('created_at', '>=', q.since);
  if (q.until !== undefined) query = query.where('created_at', '<', q.until);
  if (q.cursor) query = query.where('id', '<', q.cursor);
  const rows = await query.orderBy('id', 'desc').limit(q.limit).execute();
  return rows.map(toExecution);
}

export async function listNodes(db: Db, executionId: string): Promise<NodeRecord[]> {
  const rows = await db.selectFrom('node_executions').selectAll().where('execution_id', '=', executionId).orderBy('position').execute();
  return rows.map(toNode);
}

export async function listAttempts(db: Db, executionId: string): Promise<AttemptRecord[]> {
  const rows = await db
    .selectFrom('node_attempts')
    .selectAll()
    .where('execution_id', '=', executionId)
    .orderBy('node_id')
    .orderBy('attempt')
    .execute();
  return rows.map(toAttempt);
}

/**
 * Ends a live execution: the execution is failed with `code`, nodes in flight are failed with the
 * same code (their worker's late completion then matches no row), and nothing else is released.
 * The execution row is locked first, as in every transition of one execution.
 */
async function terminateIn(trx: Trx, profile: BackendProfile, executionId: string, code: ErrorCode, message: string, now: number): Promise<boolean> {
  const execution = await lockExecution(trx, profile, executionId);
  if (execution?.status !== 'init' && execution?.status !== 'executing') return false;
  const cut = await trx
    .updateTable('node_executions')
    .set({ status: 'failed', err_code: code, err_msg: message, finished_at: now, lease_owner: null, lease_expires_at: null })
    .where('execution_id', '=', executionId)
    .where('status', '=', 'executing')
    .returning(['node_id', 'attempts'])
    .execute();
  await trx
    .updateTable('node_executions')
    .set({ runnable_at: null })
    .where('execution_id', '=', executionId)
    .where('runnable_at', 'is not', null)
    .execute();
  await trx
    .updateTable('node_attempts')
    .set({ status: 'failed', err_code: code, err_msg: message, finished_at: now })
    .where('execution_id', '=', executionId)
    .where('status', '=', 'executing')
    .execute();
  const ended = await trx
    .updateTable('executions')
    .set({ status: 'failed', err_code: code, err_msg: message, finished_at: now })
    .where('id', '=', executionId)
    .where('status', 'in', ['init', 'executing'])
    .returning(['id', 'workspace_id', 'workflow_id', 'trigger', 'created_at', 'started_at', 'finished_at', 'err_code', 'err_msg'])
    .executeTakeFirst();
  if (!ended) return false;
  for (const n of cut) {
    await emitEvent(trx, profile, nodeEvent({ execution, nodeId: n.node_id, attempt: Number(n.attempts), errCode: code, errMsg: message }, 'node.failed', now));
  }
  await emitEvent(trx, profile, executionEvent(ended, 'execution.failed', now));
  return true;
}

export function terminateExecution(db: Db, profile: BackendProfile, executionId: string, code: ErrorCode, message: string, now: number): Promise<boolean> {
  return transaction(db, (trx) => terminateIn(trx, profile, executionId, code, message, now));
}

export async function timeOutExecutions(db: Db, profile: BackendProfile, now: number): Promise<string[]> {
  const due = await db
    .selectFrom('executions')
    .select('id')
    .where('status', 'in', ['init', 'executing'])
    .where('deadline_at', '<=', now)
    .limit(500)
    .execute();
  const ended: string[] = [];
  for (const { id } of due) {
    const done = await terminateExecution(db, profile, id, 'EXECUTION_TIMEOUT', 'Execution exceeded its timeout', now);
    if (done) ended.push(id);
  }
  return ended;
}

export async function deleteExpiredIdempotencyKeys(db: Db, now: number): Promise<number> {
  const r = await db.deleteFrom('idempotency_keys').where('expires_at', '<=', now).executeTakeFirst();
  return Number(r.numDeletedRows);
}


export async function swapResponseShape(db: Db, canvasId: string, nodeId: string, shape: string, now: number): Promise<string | undefined> {
  return transaction(db, async (trx) => {
    const prev = await trx
      .selectFrom('response_shapes')
      .select('shape')
      .where('workflow_id', '=', canvasId)
      .where('node_id', '=', nodeId)
      .executeTakeFirst();
    if (prev?.shape === shape) return prev.shape;
    await trx
      .insertInto('response_shapes')
      .values({ workflow_id: canvasId, node_id: nodeId, shape, updated_at: now })
      .onConflict((oc) => oc.columns(['workflow_id', 'node_id']).doUpdateSet({ shape, updated_at: now }))
      .execute();
    return prev?.shape;
  });
}
