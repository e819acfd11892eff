import type { Kysely, Transaction } from 'kysely';
import { driftEvent, nodeEvent, type NodeFacts } from '../../delivery/payloads.ts';
import type { NewEvent } from '../delivery.ts';
import { nodeKey, type AdvanceNode, type ClaimedWork, type CompleteNodeOutcome, type Completion, type SchedulingRules, type Turn, type TurnOutcome } from '../store.ts';
import type { BackendProfile } from './profile.ts';
import { notifyWork } from './notify.ts';
import { writeEvents } from './outbox.ts';
import { toJson } from './rows.ts';
import { HEAD_COLUMNS, type Head } from './head.ts';
import { applyAdvances, claimIn, toAdvanceNode } from './scheduling.ts';
import { lockInOne, settleInOne, type AdvanceRow, type ShapeRow } from './turnStatements.ts';
import type { Tables } from './tables.ts';
import { lazyTransaction, transaction } from './tx.ts';
import { inList, keyIn, keyParams, rowParams, run, statement } from './statements.ts';
import { chunks, keyedBy, valuesCte, valuesNames, type ValuesColumns } from './values.ts';

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
  // A turn that records no result from outside this process — it claims, and settles only the
  // deterministic tasks it evaluated itself — may be undone by a power loss at no cost but doing it
  // again, so where every commit is this process's (SQLite: see lazyTransaction) it does not wait
  // for the disk. Results of tasks that reached outside (`http`, `agent`) always do.
  const lazy = profile.singleProcess && turn.completions.length === 0;
  return lazy ? lazyTransaction(db, profile, (trx) => turnIn(trx, profile, turn, rules)) : transaction(db, (trx) => turnIn(trx, profile, turn, rules));
}

async function turnIn(trx: Trx, profile: BackendProfile, turn: Turn, rules: SchedulingRules): Promise<TurnOutcome> {
  const events: NewEvent[] = [];
  // Executions this transaction has locked: a later pass settling more of their nodes needs no lock.
  const held = new Map<string, Head>();
  const first = await settleIn(trx, profile, turn, turn.completions, rules, events, held);
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
    const next = await settleIn(trx, profile, turn, inline, rules, events, held);
    ended.push(...next.ended);
    released += next.released;
    if (!more && next.released === 0) break;
    more = true;
  }
  await writeEvents(trx, profile, events);
  // Work this turn released but did not claim itself is for other workers (PostgreSQL).
  if (released > 0 && more) await notifyWork(trx, profile, 'nodes');
  return { settled, claimed, ended, evaluated, more };
}

async function settleIn(trx: Trx, profile: BackendProfile, turn: Turn, completions: Completion[], rules: SchedulingRules, events: NewEvent[], held: Map<string, Head>) {
  const ended: TurnOutcome['ended'] = [];
  let released = 0;
  if (completions.length === 0) return { settled: [] as CompleteNodeOutcome[], ended, released };

  const shapeNodes = [...new Set(completions.filter((c) => c.result.type === 'finished' && c.responseShape !== undefined).map((c) => c.nodeId))];
  const { heads, shapes } = await lockRuns(trx, profile, [...new Set(completions.map((c) => c.executionId))], shapeNodes, held);
  const drifts = await swapShapes(trx, profile, completions, heads, shapes, turn.now, rules);
  const { settled, advanced, state } = await settleNodes(trx, profile, turn, completions, heads, drifts, events);
  const nodesByExecution = state ?? (await advanceState(trx, profile, [...advanced]));
  const runs = [...advanced].map((id) => ({ head: heads.get(id)!, nodes: nodesByExecution.get(id) ?? [] }));
  const results = await applyAdvances(trx, profile, runs, rules, turn.now, events);
  runs.forEach((run, i) => {
    released += results[i]!.released;
    if (results[i]!.status) ended.push({ executionId: run.head.id, status: results[i]!.status! });
  });
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
 * executions cannot deadlock): every transition of one execution then runs one at a time. On
 * PostgreSQL the same statement reads the last response shapes of `shapeNodes`; elsewhere
 * `swapShapes` reads them.
 *
 * Executions in `held` were locked earlier in this transaction and are not locked again. When a turn
 * evaluates the next node of a run it has just settled (with no backlog, a node released by a turn is
 * claimed by the same turn), locking that run again was a statement of its own that changed nothing:
 * 0.3–0.7 ms of a PostgreSQL turn, in every such run's accept-to-finish. What a head carries (ids,
 * trigger, times) does not change while the lock is held; its status is not read. A batch that
 * compares response shapes locks all of its executions, as the shapes are read with them.
 */
async function lockRuns(trx: Trx, profile: BackendProfile, ids: string[], shapeNodes: string[], held: Map<string, Head>): Promise<{ heads: Map<string, Head>; shapes?: ShapeRow[] }> {
  const heads = new Map<string, Head>();
  const missing = shapeNodes.length ? ids : ids.filter((id) => !held.has(id));
  for (const id of ids) if (held.has(id)) heads.set(id, held.get(id)!);
  let shapes: ShapeRow[] | undefined;
  if (missing.length > 0 || shapeNodes.length > 0) {
    const got = await lockHeads(trx, profile, missing, shapeNodes);
    for (const h of got.heads) {
      heads.set(h.id, h);
      held.set(h.id, h);
    }
    shapes = got.shapes;
  }
  return { heads, shapes };
}

async function lockHeads(trx: Trx, profile: BackendProfile, ids: string[], shapeNodes: string[]): Promise<{ heads: Head[]; shapes?: ShapeRow[] }> {
  if (profile.modifyingCtes) return lockInOne(trx, profile, ids, shapeNodes);
  const heads: Head[] = [];
  for (const part of chunks(profile, ids, 1)) {
    const text = statement(
      profile,
      `lock executions ${part.length}`,
      (p) => `SELECT ${HEAD_COLUMNS} FROM executions WHERE id IN (${inList(p, part.length)}) ORDER BY id${profile.rowLocks ? ' FOR UPDATE' : ''}`,
    );
    heads.push(...(await run<Head>(trx, text, part)));
  }
  return { heads };
}

async function advanceState(trx: Trx, profile: BackendProfile, executionIds: string[]): Promise<Map<string, AdvanceNode[]>> {
  const rows: AdvanceRow[] = [];
  for (const part of chunks(profile, executionIds, 1)) {
    const text = statement(
      profile,
      `advance state ${part.length}`,
      (p) => `SELECT execution_id, node_id, kind, deps, status, runnable_at, output, err_code, err_msg FROM node_executions
               WHERE ${keyIn(profile, p, 'execution_id', part.length)} ORDER BY execution_id, position`,
    );
    rows.push(...(await run<AdvanceRow>(trx, text, keyParams(profile, part))));
  }
  return byExecution(rows);
}

function byExecution(rows: readonly AdvanceRow[]): Map<string, AdvanceNode[]> {
  const by = new Map<string, AdvanceNode[]>();
  for (const r of rows) {
    let list = by.get(r.execution_id);
    if (!list) by.set(r.execution_id, (list = []));
    list.push(toAdvanceNode(r));
  }
  return by;
}

/**
 * Writes the completions' node rows and attempts and their events in completion order. Each row's
 * WHERE names the lease owner, the state and the attempt, so a completion whose lease was lost (abort,
 * timeout, reclaim) changes nothing and is reported as not applied. Returns the outcomes, the
 * executions to advance (an applied final result) and, on PostgreSQL, their node state, read by the
 * same statement that wrote the results.
 */
async function settleNodes(trx: Trx, profile: BackendProfile, turn: Turn, completions: Completion[], heads: Map<string, Head>, drifts: Map<number, unknown>, events: NewEvent[]) {
  const settled: CompleteNodeOutcome[] = completions.map(() => ({ applied: false }));
  const finals: FinalRow[] = [];
  const retries: RetryRow[] = [];
  const attempts: AttemptRow[] = [];
  for (const [i, c] of completions.entries()) {
    const head = heads.get(c.executionId);
    const r = c.result;
    if (!head) continue;
    if (r.type === 'deferred') {
      settled[i] = { applied: await deferNode(trx, turn.workerId, c, r.runAt, r.host) };
      continue;
    }
    // Rows are written out field by field: an object spread and then given new properties becomes a
    // dictionary in V8 (about 750 bytes against 125 for the literal), and these are made per node.
    const finishedAt = c.finishedAt ?? turn.now;
    const failed = r.type === 'finished' ? undefined : r;
    attempts.push({
      execution_id: c.executionId,
      node_id: c.nodeId,
      attempt: c.attempt,
      status: failed ? 'failed' : 'finish',
      finished_at: finishedAt,
      http_status: r.httpStatus ?? null,
      err_code: failed ? failed.errCode : null,
      err_msg: failed ? failed.errMsg : null,
      next_attempt_at: r.type === 'retry' ? r.runAt : null,
      input: toJson(c.input),
    });
    if (r.type === 'retry') {
      retries.push({ execution_id: c.executionId, node_id: c.nodeId, attempt: c.attempt, runnable_at: r.runAt, err_code: r.errCode, err_msg: r.errMsg });
      continue;
    }
    finals.push({
      execution_id: c.executionId,
      node_id: c.nodeId,
      attempt: c.attempt,
      status: r.type === 'finished' ? 'finish' : 'failed',
      finished_at: finishedAt,
      output: r.type === 'finished' ? toJson(r.output) : null,
      drift: toJson(drifts.get(i)),
      messages: toJson(r.messages),
      usage: toJson(r.usage),
      err_code: r.type === 'failed' ? r.errCode : null,
      err_msg: r.type === 'failed' ? r.errMsg : null,
    });
  }

  let applied: Set<string>;
  let state: Map<string, AdvanceNode[]> | undefined;
  if (profile.modifyingCtes) {
    const advancing = [...new Set(finals.map((f) => f.execution_id))];
    const out = await settleInOne(trx, profile, turn.workerId, { finals: finals.map(finalNode), retries: retries.map(retryNode), attempts }, advancing);
    applied = new Set(out.applied.map(([e, n]) => nodeKey(e, n)));
    state = byExecution(withResults(out.nodes, applied, finals, retries));
  } else {
    applied = new Set([...(await writeFinals(trx, profile, turn.workerId, finals)), ...(await writeRetries(trx, profile, turn.workerId, retries))]);
    await finishAttempts(trx, profile, attempts.filter((a) => applied.has(nodeKey(a.execution_id, a.node_id))));
  }

  const advanced = new Set<string>();
  for (const [i, c] of completions.entries()) {
    const r = c.result;
    if (r.type === 'deferred' || !applied.has(nodeKey(c.executionId, c.nodeId))) continue;
    settled[i] = drifts.has(i) ? { applied: true, drift: drifts.get(i) } : { applied: true };
    if (r.type === 'retry') continue;
    advanced.add(c.executionId);
    const h = heads.get(c.executionId)!;
    const node: NodeFacts = {
      executionId: h.id,
      workspaceId: h.workspace_id,
      canvasId: h.workflow_id,
      nodeId: c.nodeId,
      attempt: c.attempt,
      httpStatus: r.httpStatus,
      errCode: r.type === 'failed' ? r.errCode : undefined,
      errMsg: r.type === 'failed' ? r.errMsg : undefined,
    };
    events.push(nodeEvent(node, r.type === 'finished' ? 'node.finished' : 'node.failed', turn.now));
    if (r.type === 'finished' && drifts.has(i)) events.push(driftEvent(node, drifts.get(i), turn.now));
  }
  return { settled, advanced, state };
}

/** Node rows read before the statement that wrote `applied` of `finals` and `retries`, as they are after it. */
function withResults(rows: AdvanceRow[], applied: Set<string>, finals: FinalRow[], retries: RetryRow[]): AdvanceRow[] {
  const written = new Map<string, Partial<AdvanceRow>>();
  for (const f of finals) written.set(nodeKey(f.execution_id, f.node_id), { status: f.status, runnable_at: null, output: f.output, err_code: f.err_code, err_msg: f.err_msg });
  for (const r of retries) written.set(nodeKey(r.execution_id, r.node_id), { status: 'waiting', runnable_at: r.runnable_at, err_code: r.err_code, err_msg: r.err_msg });
  return rows.map((row) => {
    const key = nodeKey(row.execution_id, row.node_id);
    return applied.has(key) ? { ...row, ...written.get(key) } : row;
  });
}

interface NodeKeyRow { execution_id: string; node_id: string; attempt: number }
type FinalRow = NodeKeyRow & Pick<Tables['node_executions'], 'status' | 'output' | 'drift' | 'messages' | 'usage' | 'err_code' | 'err_msg'> & { finished_at: number };
type RetryRow = NodeKeyRow & { runnable_at: number; err_code: string; err_msg: string };
type AttemptRow = NodeKeyRow & Pick<Tables['node_attempts'], 'status' | 'http_status' | 'err_code' | 'err_msg' | 'next_attempt_at' | 'input'> & { finished_at: number };

/** A final result as a node row (its attempt in `attempts`), for the PostgreSQL settle's JSON. */
const finalNode = (f: FinalRow) => ({
  execution_id: f.execution_id,
  node_id: f.node_id,
  attempts: f.attempt,
  status: f.status,
  finished_at: f.finished_at,
  output: f.output,
  drift: f.drift,
  messages: f.messages,
  usage: f.usage,
  err_code: f.err_code,
  err_msg: f.err_msg,
});
const retryNode = (r: RetryRow) => ({ execution_id: r.execution_id, node_id: r.node_id, attempts: r.attempt, runnable_at: r.runnable_at, err_code: r.err_code, err_msg: r.err_msg });

const KEY_COLUMNS = { execution_id: 'TEXT', node_id: 'TEXT', attempt: 'INTEGER' } as const;
const FINAL_COLUMNS: ValuesColumns<FinalRow> = {
  ...KEY_COLUMNS, status: 'TEXT', finished_at: 'BIGINT', output: 'TEXT', drift: 'TEXT', messages: 'TEXT', usage: 'TEXT', err_code: 'TEXT', err_msg: 'TEXT',
};
const RETRY_COLUMNS: ValuesColumns<RetryRow> = { ...KEY_COLUMNS, runnable_at: 'BIGINT', err_code: 'TEXT', err_msg: 'TEXT' };
const ATTEMPT_COLUMNS: ValuesColumns<AttemptRow> = {
  ...KEY_COLUMNS, status: 'TEXT', finished_at: 'BIGINT', http_status: 'INTEGER', err_code: 'TEXT', err_msg: 'TEXT', next_attempt_at: 'BIGINT', input: 'TEXT',
};

/**
 * Sets `set` on the node row of each of `rows` that is still leased to this worker at that attempt
 * (a lost lease matches nothing), for the whole batch at once; returns the nodes it changed.
 */
async function updateLeased<R extends NodeKeyRow>(trx: Trx, profile: BackendProfile, name: string, columns: ValuesColumns<R>, set: string, workerId: string, rows: R[]): Promise<string[]> {
  const applied: string[] = [];
  const names = valuesNames(columns);
  for (const part of chunks(profile, rows, names.length)) {
    const text = statement(
      profile,
      `${name} ${part.length}`,
      (p) => `${valuesCte(p, columns, part.length)}
      UPDATE node_executions SET ${set}, lease_owner = NULL, lease_expires_at = NULL
        FROM v
       WHERE node_executions.execution_id = v.execution_id AND node_executions.node_id = v.node_id
         AND node_executions.lease_owner = ${p()} AND node_executions.status = 'executing' AND node_executions.attempts = v.attempt${keyedBy(profile, 'node_executions', 'execution_id')}
      RETURNING node_executions.execution_id, node_executions.node_id`,
    );
    const done = await run<{ execution_id: string; node_id: string }>(trx, text, [...rowParams(part, names), workerId]);
    for (const d of done) applied.push(nodeKey(d.execution_id, d.node_id));
  }
  return applied;
}

const writeFinals = (trx: Trx, profile: BackendProfile, workerId: string, rows: FinalRow[]) =>
  updateLeased(
    trx,
    profile,
    'finals',
    FINAL_COLUMNS,
    `status = v.status, finished_at = v.finished_at, output = v.output, drift = v.drift, messages = v.messages,
             usage = v.usage, err_code = v.err_code, err_msg = v.err_msg`,
    workerId,
    rows,
  );

const writeRetries = (trx: Trx, profile: BackendProfile, workerId: string, rows: RetryRow[]) =>
  updateLeased(trx, profile, 'retries', RETRY_COLUMNS, `status = 'waiting', runnable_at = v.runnable_at, err_code = v.err_code, err_msg = v.err_msg, wait_reason = NULL`, workerId, rows);

async function finishAttempts(trx: Trx, profile: BackendProfile, rows: AttemptRow[]): Promise<void> {
  const names = valuesNames(ATTEMPT_COLUMNS);
  for (const part of chunks(profile, rows, names.length)) {
    const text = statement(
      profile,
      `finish attempts ${part.length}`,
      (p) => `${valuesCte(p, ATTEMPT_COLUMNS, part.length)}
      UPDATE node_attempts
         SET status = v.status, finished_at = v.finished_at, http_status = v.http_status, err_code = v.err_code,
             err_msg = v.err_msg, next_attempt_at = v.next_attempt_at, input = v.input
        FROM v
       WHERE node_attempts.execution_id = v.execution_id AND node_attempts.node_id = v.node_id AND node_attempts.attempt = v.attempt${keyedBy(profile, 'node_attempts', 'execution_id')}`,
    );
    await run(trx, text, rowParams(part, names));
  }
}

const SHAPE_KEY_COLUMNS = { workspace_id: 'TEXT', workflow_id: 'TEXT', node_id: 'TEXT' } as const;
type ShapeKey = Omit<ShapeRow, 'shape'>;
const shapeKey = (k: ShapeKey) => `${k.workspace_id}\u0000${k.workflow_id}\u0000${k.node_id}`;

/**
 * Stores the response shape of each finished task and asks the rules how it differs from the one
 * before — in completion order, so the second of two runs of one workflow in a batch is compared with
 * the first. One read and one upsert for the batch. Returns the drift by completion index.
 */
async function swapShapes(
  trx: Trx,
  profile: BackendProfile,
  completions: Completion[],
  heads: Map<string, Head>,
  read: ShapeRow[] | undefined,
  now: number,
  rules: SchedulingRules,
): Promise<Map<number, unknown>> {
  const drifts = new Map<number, unknown>();
  const shaped = completions.flatMap((c, i) => {
    const head = heads.get(c.executionId);
    return head && c.result.type === 'finished' && c.responseShape !== undefined
      ? [{ i, shape: c.responseShape, key: { workspace_id: head.workspace_id, workflow_id: head.workflow_id, node_id: c.nodeId } }]
      : [];
  });
  if (shaped.length === 0) return drifts;
  const latest = new Map<string, string>();
  for (const r of read ?? (await readShapes(trx, profile, shaped.map((s) => s.key)))) latest.set(shapeKey(r), r.shape);
  const changed = new Map<string, Tables['response_shapes']>();
  for (const s of shaped) {
    const k = shapeKey(s.key);
    const prev = latest.get(k);
    if (prev === s.shape) continue;
    if (prev !== undefined) {
      const drift = rules.drift(prev, s.shape);
      if (drift !== undefined && drift !== null) drifts.set(s.i, drift);
    }
    latest.set(k, s.shape);
    changed.set(k, { ...s.key, shape: s.shape, updated_at: now });
  }
  const rows = [...changed.values()];
  for (const part of chunks(profile, rows, 5)) {
    await trx
      .insertInto('response_shapes')
      .values([...part])
      .onConflict((oc) =>
        oc.columns(['workspace_id', 'workflow_id', 'node_id']).doUpdateSet((eb) => ({ shape: eb.ref('excluded.shape'), updated_at: eb.ref('excluded.updated_at') })),
      )
      .execute();
  }
  return drifts;
}

async function readShapes(trx: Trx, profile: BackendProfile, wanted: ShapeKey[]): Promise<ShapeRow[]> {
  const rows: ShapeRow[] = [];
  const keys = [...new Map(wanted.map((k) => [shapeKey(k), k])).values()];
  const keyNames = valuesNames(SHAPE_KEY_COLUMNS);
  for (const part of chunks(profile, keys, keyNames.length)) {
    const text = statement(
      profile,
      `shapes ${part.length}`,
      (p) => `${valuesCte(p, SHAPE_KEY_COLUMNS, part.length)}
      SELECT s.workspace_id, s.workflow_id, s.node_id, s.shape FROM response_shapes s
        JOIN v ON s.workspace_id = v.workspace_id AND s.workflow_id = v.workflow_id AND s.node_id = v.node_id`,
    );
    rows.push(...(await run<ShapeRow>(trx, text, rowParams(part, keyNames))));
  }
  return rows;
}

/** Puts a claimed node back without counting the claim as an attempt, and drops that attempt's row. */
async function deferNode(trx: Trx, workerId: string, c: Completion, runAt: number, host?: string): Promise<boolean> {
  const res = await trx
    .updateTable('node_executions')
    .set((eb) => ({ status: 'waiting', runnable_at: runAt, wait_reason: host ? JSON.stringify({ kind: 'circuit', host }) : null, lease_owner: null, lease_expires_at: null, attempts: eb('attempts', '-', 1) }))
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
