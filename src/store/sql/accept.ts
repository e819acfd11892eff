import type { Kysely, Transaction } from 'kysely';
import type { AcceptItem, AcceptOutcome, CreateExecutionResult } from '../store.ts';
import type { BackendProfile } from './profile.ts';
import { insertChunked } from './insert.ts';
import { columnList, rowParams, run, statement, tuples } from './statements.ts';
import { chunks } from './values.ts';
import { notifyWork } from './notify.ts';
import { writeEvents } from './outbox.ts';
import type { IdempotencyKeysTable, Tables } from './tables.ts';
import { transaction } from './tx.ts';
import { attemptRows, callbackRow, callRow, COLUMNS, executionRow, keyOf, keyRowsInLockOrder, nodeRows } from './acceptRows.ts';

type Db = Kysely<Tables>;
type Trx = Transaction<Tables>;

type KeyRow = Pick<IdempotencyKeysTable, 'request_hash' | 'execution_id' | 'response'>;
const KEY_COLUMNS = COLUMNS.idempotency_keys;

/**
 * Accepts a batch of triggers in one transaction: each run
 * with its nodes, its idempotency key, the webhook call that carried it and the events it produces.
 *
 * Keys are claimed with one multi-row upsert that only takes over expired rows; a key already held
 * makes its item a replay (same request hash) or a reuse, and its neighbours still commit. Two items
 * of one batch with the same key resolve as if they had come one after the other.
 *
 * If the batch fails as a whole, each item is tried again in a transaction of its own, so one bad
 * item costs its neighbours a retry, never their answer.
 */
export async function acceptInTransaction(db: Db, profile: BackendProfile, items: readonly AcceptItem[]): Promise<AcceptOutcome[]> {
  if (items.length === 0) return [];
  try {
    return await transaction(db, (trx) => acceptIn(trx, profile, items));
  } catch (batchError) {
    if (items.length === 1) return [{ type: 'error', error: batchError }];
    const out: AcceptOutcome[] = [];
    for (const item of items) {
      try {
        out.push((await transaction(db, (trx) => acceptIn(trx, profile, [item])))[0]!);
      } catch (error) {
        out.push({ type: 'error', error });
      }
    }
    return out;
  }
}

async function acceptIn(trx: Trx, profile: BackendProfile, items: readonly AcceptItem[]): Promise<AcceptOutcome[]> {
  const outcomes = await claimKeys(trx, profile, items);
  const created = items.filter((_, i) => outcomes[i]!.type === 'created');
  if (created.length) await insertExecutions(trx, profile, created);

  const calls: Tables['webhook_calls'][] = [];
  items.forEach((it, i) => {
    const o = outcomes[i]!;
    if (!it.call) return;
    // A key reused with another body is answered 422 and recorded with that answer by the caller.
    if (o.type === 'created' || o.type === 'replayed') calls.push(callRow(it.call, o.executionId, o.type === 'replayed'));
    else if (o.type === 'recorded') calls.push(callRow(it.call, it.call.executionId, it.call.duplicate));
  });
  await insertChunked(trx, profile, 'webhook_calls', calls);
  await writeEvents(trx, profile, items.flatMap((it, i) => (outcomes[i]!.type === 'created' ? (it.events ?? []) : [])));
  if (created.some((it) => !it.execution!.settled)) await notifyWork(trx, profile, 'nodes');
  return outcomes;
}

/** Decides each item's fate by its idempotency key: created, replayed, key_reused — or a bare call record. */
async function claimKeys(trx: Trx, profile: BackendProfile, items: readonly AcceptItem[]): Promise<AcceptOutcome[]> {
  const outcomes: (AcceptOutcome | undefined)[] = items.map((it) => (!it.execution ? { type: 'recorded' } : !it.idempotency ? { type: 'created', executionId: it.execution.executionId } : undefined));
  // The first item with a key claims it for the batch; later ones resolve against what it found.
  const owners = new Map<string, number>();
  items.forEach((it, i) => {
    if (outcomes[i] || !it.idempotency) return;
    const k = keyOf(it.execution!.workspaceId, it.idempotency.scope, it.idempotency.key);
    if (!owners.has(k)) owners.set(k, i);
  });
  if (owners.size === 0) return outcomes as AcceptOutcome[];

  const rows = keyRowsInLockOrder(items, owners);
  const won: { workspace_id: string; scope: string; key: string }[] = [];
  for (const part of chunks(profile, rows, KEY_COLUMNS.length)) {
    const text = statement(
      profile,
      `claim keys ${part.length}`,
      // An expired key is taken over by the new request; a live one is left alone.
      (p) => `INSERT INTO idempotency_keys (${columnList(KEY_COLUMNS)}) VALUES ${tuples(p, part.length, KEY_COLUMNS.length)}
              ON CONFLICT (workspace_id, scope, "key") DO UPDATE
                 SET request_hash = excluded.request_hash, execution_id = excluded.execution_id, response = excluded.response,
                     created_at = excluded.created_at, expires_at = excluded.expires_at
               WHERE idempotency_keys.expires_at <= excluded.created_at
              RETURNING workspace_id, scope, "key"`,
    );
    won.push(...(await run<(typeof won)[number]>(trx, text, rowParams(part, KEY_COLUMNS))));
  }
  const claimed = new Set(won.map((r) => keyOf(r.workspace_id, r.scope, r.key)));
  const held = await heldKeys(trx, profile, rows.filter((r) => !claimed.has(keyOf(r.workspace_id, r.scope, r.key))));

  const inEffect = new Map<string, KeyRow>();
  for (const i of owners.values()) {
    const { execution: e, idempotency: idem } = items[i]!;
    const k = keyOf(e!.workspaceId, idem!.scope, idem!.key);
    if (claimed.has(k)) {
      outcomes[i] = { type: 'created', executionId: e!.executionId };
      inEffect.set(k, { request_hash: idem!.requestHash, execution_id: e!.executionId, response: JSON.stringify(idem!.response) });
    } else {
      const row = held.get(k);
      // Held a moment ago and gone now (swept as expired between the two statements): let the
      // caller try again rather than guess.
      if (!row) throw new Error(`idempotency key ${idem!.key} vanished while being claimed`);
      inEffect.set(k, row);
    }
  }
  items.forEach((it, i) => {
    if (outcomes[i]) return;
    const row = inEffect.get(keyOf(it.execution!.workspaceId, it.idempotency!.scope, it.idempotency!.key))!;
    outcomes[i] = resolveAgainst(row, it.idempotency!.requestHash);
  });
  return outcomes as AcceptOutcome[];
}

function resolveAgainst(row: KeyRow, requestHash: string): CreateExecutionResult {
  if (row.request_hash !== requestHash) return { type: 'key_reused' };
  return { type: 'replayed', executionId: row.execution_id, response: JSON.parse(row.response) };
}

async function heldKeys(trx: Trx, profile: BackendProfile, keys: { workspace_id: string; scope: string; key: string }[]): Promise<Map<string, KeyRow & { workspace_id: string; scope: string; key: string }>> {
  const held = new Map<string, KeyRow & { workspace_id: string; scope: string; key: string }>();
  for (const part of chunks(profile, keys, 3)) {
    const text = statement(
      profile,
      `held keys ${part.length}`,
      (p) => `SELECT workspace_id, scope, "key", request_hash, execution_id, response FROM idempotency_keys
               WHERE ${Array.from({ length: part.length }, () => `(workspace_id = ${p()} AND scope = ${p()} AND "key" = ${p()})`).join(' OR ')}`,
    );
    const rows = await run<KeyRow & { workspace_id: string; scope: string; key: string }>(trx, text, rowParams(part, ['workspace_id', 'scope', 'key']));
    for (const r of rows) held.set(keyOf(r.workspace_id, r.scope, r.key), r);
  }
  return held;
}

async function insertExecutions(trx: Trx, profile: BackendProfile, items: AcceptItem[]): Promise<void> {
  const created = items.map((it) => it.execution!);
  await insertChunked(trx, profile, 'executions', items.map(executionRow));
  await insertChunked(trx, profile, 'node_executions', created.flatMap(nodeRows));
  await insertChunked(trx, profile, 'node_attempts', created.flatMap(attemptRows));
  // The run's callbackUrl exists before the run can emit anything: same transaction.
  await insertChunked(
    trx,
    profile,
    'event_endpoints',
    created.flatMap((e) => (e.callback ? [callbackRow(e)] : [])),
  );
}

