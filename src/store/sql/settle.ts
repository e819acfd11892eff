import type { Kysely, Transaction } from 'kysely';
import { driftEvent, nodeEvent } from '../../delivery/payloads.ts';
import type { NewEvent } from '../delivery.ts';
import type { AdvanceNode, ClaimedWork, CompleteNodeOutcome, Completion, SchedulingRules, Turn, TurnOutcome } from '../store.ts';
import type { BackendProfile } from './profile.ts';
import { notifyWork } from './notify.ts';
import { writeEvents } from './outbox.ts';
import { toJson } from './rows.ts';
import { applyAdvance, claimIn, headFacts, toAdvanceNode, type Head } from './scheduling.ts';
import type { Tables } from './tables.ts';
import { transaction } from './tx.ts';

type Db = Kysely<Tables>;
type Trx = Transaction<Tables>;

/** Claim passes per turn: a chain of deterministic tasks longer than this goes on in the next turn. */
const MAX_PASSES = 8;

/**
 * A worker's turn (STYLE 16: the caller gathers the batch, the store applies it): every completion
 * since the last turn, the advance of their executions, their events, and the next claims, in one
 * transaction. N nodes finishing together cost one commit, not N. Claimed nodes that
 * `rules.evaluate` can compute on the spot are settled in the same transaction and what they release
 * is claimed in another pass, so a chain of transforms and an output costs one commit.
 */
export function settleAndClaim(db: Db, profile: BackendProfile, turn: Turn, rules: SchedulingRules): Promise<TurnOutcome> {
  return transaction(db, async (trx) => {
    const events: NewEvent[] = [];
    const first = await settleIn(trx, profile, turn, turn.completions, rules, events);
    const { settled, ended } = first;
    let released = first.released;
    const claimed: ClaimedWork[] = [];
    let evaluated = 0;
    let more = false;
    for (let pass = 0, free = turn.claim; free > 0 && pass < MAX_PASSES; pass++) {
      const got = await claimIn(trx, profile, turn.workerId, free, turn.now, turn.leaseMs, events);
      more = got.length === free;
      const inline: Completion[] = [];
      for (const work of got) {
        const result = await rules.evaluate?.(work);
        if (result) inline.push({ executionId: work.executionId, nodeId: work.nodeId, attempt: work.attempt, result });
        else claimed.push(work);
      }
      free -= got.length - inline.length;
      if (inline.length === 0) break;
      evaluated += inline.length;
      const next = await settleIn(trx, profile, turn, inline, rules, events);
      ended.push(...next.ended);
      released += next.released;
      if (!more && next.released === 0) break;
      more = true;
    }
    await writeEvents(trx, profile, events);
    // Work this turn released but did not claim itself is for other workers (PostgreSQL).
    if (released > 0 && more) await notifyWork(trx, profile);
    return { settled, claimed, ended, evaluated, more };
  });
}

async function settleIn(trx: Trx, profile: BackendProfile, turn: Turn, completions: Completion[], rules: SchedulingRules, events: NewEvent[]) {
  const settled: CompleteNodeOutcome[] = [];
  const ended: TurnOutcome['ended'] = [];
  let released = 0;
  if (completions.length === 0) return { settled, ended, released };

  const heads = await lockExecutions(trx, profile, [...new Set(completions.map((c) => c.executionId))]);
  const advanced = new Set<string>();
  for (const c of completions) {
    const head = heads.get(c.executionId);
    const outcome = head ? await settleOne(trx, turn, c, head, rules, events) : { applied: false };
    settled.push(outcome);
    if (outcome.applied && (c.result.type === 'finished' || c.result.type === 'failed')) advanced.add(c.executionId);
  }
  const nodesByExecution = await advanceState(trx, [...advanced]);
  for (const executionId of advanced) {
    const r = await applyAdvance(trx, heads.get(executionId)!, nodesByExecution.get(executionId) ?? [], rules, turn.now, events);
    released += r.released;
    if (r.status) ended.push({ executionId, status: r.status });
  }
  // The last applied completion of an execution that ended reports how it ended.
  const endedStatus = new Map(ended.map((e) => [e.executionId, e.status]));
  for (let i = settled.length - 1; i >= 0; i--) {
    const status = endedStatus.get(completions[i]!.executionId);
    if (!status || !settled[i]!.applied) continue;
    settled[i] = { ...settled[i]!, executionStatus: status };
    endedStatus.delete(completions[i]!.executionId);
  }
  return { settled, ended, released };
}

/**
 * Takes the row locks of the executions being settled, in id order (so two workers settling the same
 * executions cannot deadlock): every transition of one execution then runs one at a time.
 */
async function lockExecutions(trx: Trx, profile: BackendProfile, ids: string[]): Promise<Map<string, Head>> {
  let q = trx
    .selectFrom('executions')
    .select(['id', 'status', 'workspace_id', 'workflow_id', 'trigger', 'created_at', 'started_at'])
    .where('id', 'in', ids)
    .orderBy('id');
  if (profile.rowLocks) q = q.forUpdate();
  const rows = await q.execute();
  return new Map(rows.map((r) => [r.id, r]));
}

async function advanceState(trx: Trx, executionIds: string[]): Promise<Map<string, AdvanceNode[]>> {
  const by = new Map<string, AdvanceNode[]>();
  if (executionIds.length === 0) return by;
  const rows = await trx
    .selectFrom('node_executions')
    .select(['execution_id', 'node_id', 'kind', 'deps', 'status', 'runnable_at', 'output', 'err_code', 'err_msg'])
    .where('execution_id', 'in', executionIds)
    .orderBy('execution_id')
    .orderBy('position')
    .execute();
  for (const r of rows) {
    let list = by.get(r.execution_id);
    if (!list) by.set(r.execution_id, (list = []));
    list.push(toAdvanceNode(r));
  }
  return by;
}

async function settleOne(trx: Trx, turn: Turn, c: Completion, head: Head, rules: SchedulingRules, events: NewEvent[]): Promise<CompleteNodeOutcome> {
  const r = c.result;
  if (r.type === 'deferred') return { applied: await deferNode(trx, turn.workerId, c, r.runAt) };
  const drift = r.type === 'finished' && c.responseShape !== undefined ? await swapShape(trx, head, c, turn.now, rules) : undefined;
  if (!(await writeNode(trx, turn, c, drift))) return { applied: false };
  await finishAttempt(trx, c.finishedAt ?? turn.now, c);
  if (r.type === 'retry') return { applied: true };
  const node = { ...headFacts(head), nodeId: c.nodeId, attempt: c.attempt, httpStatus: r.httpStatus };
  if (r.type === 'finished') {
    events.push(nodeEvent(node, 'node.finished', turn.now));
    if (drift !== undefined) events.push(driftEvent(node, drift, turn.now));
  } else {
    events.push(nodeEvent({ ...node, errCode: r.errCode, errMsg: r.errMsg }, 'node.failed', turn.now));
  }
  return { applied: true, drift };
}

/** Stores the response shape of a task and asks the rules how it differs from the previous one. */
async function swapShape(trx: Trx, head: Head, c: Completion, now: number, rules: SchedulingRules): Promise<unknown> {
  const shape = c.responseShape!;
  const prev = await trx
    .selectFrom('response_shapes')
    .select('shape')
    .where('workspace_id', '=', head.workspace_id)
    .where('workflow_id', '=', head.workflow_id)
    .where('node_id', '=', c.nodeId)
    .executeTakeFirst();
  if (prev?.shape === shape) return undefined;
  await trx
    .insertInto('response_shapes')
    .values({ workspace_id: head.workspace_id, workflow_id: head.workflow_id, node_id: c.nodeId, shape, updated_at: now })
    .onConflict((oc) => oc.columns(['workspace_id', 'workflow_id', 'node_id']).doUpdateSet({ shape, updated_at: now }))
    .execute();
  return prev === undefined ? undefined : (rules.drift(prev.shape, shape) ?? undefined);
}

async function writeNode(trx: Trx, turn: Turn, c: Completion, drift: unknown): Promise<boolean> {
  const r = c.result;
  const common = { lease_owner: null, lease_expires_at: null };
  const values =
    r.type === 'retry'
      ? { ...common, status: 'waiting', runnable_at: r.runAt, err_code: r.errCode, err_msg: r.errMsg }
      : r.type === 'finished' || r.type === 'failed'
        ? {
            ...common,
            status: r.type === 'finished' ? 'finish' : 'failed',
            finished_at: c.finishedAt ?? turn.now,
            output: r.type === 'finished' ? toJson(r.output) : null,
            drift: toJson(drift),
            messages: toJson(r.messages),
            usage: toJson(r.usage),
            err_code: r.type === 'failed' ? r.errCode : null,
            err_msg: r.type === 'failed' ? r.errMsg : null,
          }
        : undefined;
  if (!values) return false;
  const res = await trx
    .updateTable('node_executions')
    .set(values)
    .where('execution_id', '=', c.executionId)
    .where('node_id', '=', c.nodeId)
    .where('lease_owner', '=', turn.workerId)
    .where('status', '=', 'executing')
    .where('attempts', '=', c.attempt)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

async function finishAttempt(trx: Trx, now: number, c: Completion): Promise<void> {
  const r = c.result;
  if (r.type === 'deferred') return;
  await trx
    .updateTable('node_attempts')
    .set({
      status: r.type === 'finished' ? 'finish' : 'failed',
      finished_at: now,
      http_status: r.httpStatus ?? null,
      err_code: r.type === 'finished' ? null : r.errCode,
      err_msg: r.type === 'finished' ? null : r.errMsg,
      next_attempt_at: r.type === 'retry' ? r.runAt : null,
    })
    .where('execution_id', '=', c.executionId)
    .where('node_id', '=', c.nodeId)
    .where('attempt', '=', c.attempt)
    .execute();
}

/** Puts a claimed node back without counting the claim as an attempt, and drops that attempt's row. */
async function deferNode(trx: Trx, workerId: string, c: Completion, runAt: number): Promise<boolean> {
  const res = await trx
    .updateTable('node_executions')
    .set((eb) => ({ status: 'waiting', runnable_at: runAt, lease_owner: null, lease_expires_at: null, attempts: eb('attempts', '-', 1) }))
    .where('execution_id', '=', c.executionId)
    .where('node_id', '=', c.nodeId)
    .where('lease_owner', '=', workerId)
    .where('status', '=', 'executing')
    .where('attempts', '=', c.attempt)
    .executeTakeFirst();
  if (Number(res.numUpdatedRows) !== 1) return false;
  await trx.deleteFrom('node_attempts').where('execution_id', '=', c.executionId).where('node_id', '=', c.nodeId).where('attempt', '=', c.attempt).execute();
  return true;
}
