import { sql, type Kysely, type Transaction } from 'kysely';
import type {
  ClaimedMessage,
  CompleteMessageInput,
  DeliveryRules,
  ListMessagesQuery,
  MessageTurn,
  MessageAttemptRecord,
  MessageRecord,
  MessageStatus,
} from '../delivery.ts';
import type { MessageWithAttempts, ReplayOutcome } from '../store.ts';
import { toEndpoint } from './endpoints.ts';
import { writeEvents } from './outbox.ts';
import type { BackendProfile } from './profile.ts';
import { optNum } from './rows.ts';
import type { EventAttemptsTable, EventMessagesTable, Tables } from './tables.ts';
import { insertChunked } from './insert.ts';
import { notifyWork } from './notify.ts';
import { lazyTransaction, retryTransient, transaction } from './tx.ts';
import { inList, padded, rowParams, run, statement, unindexed, type Placeholder } from './statements.ts';
import { chunks, keyedBy, valuesCte, valuesNames, type ValuesColumns } from './values.ts';

/**
 * The delivery queue for outbound events: the same lease discipline as the node queue. A message is
 * `pending` until due, `delivering` under one dispatcher's lease, then `succeeded`, back to `pending`
 * for a retry, or `failed` (given up). Ordered endpoints release one message at a time.
 */
type Db = Kysely<Tables>;
type Trx = Transaction<Tables>;

export const toMessage = (r: EventMessagesTable): MessageRecord => ({
  id: r.id,
  endpointId: r.endpoint_id,
  workspaceId: r.workspace_id,
  eventType: r.event_type,
  executionId: r.execution_id ?? undefined,
  payload: r.payload,
  status: r.status as MessageStatus,
  attempts: Number(r.attempts),
  nextAttemptAt: optNum(r.next_attempt_at),
  lastHttpStatus: optNum(r.last_http_status),
  lastError: r.last_error ?? undefined,
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
});

const toAttempt = (r: EventAttemptsTable): MessageAttemptRecord => ({
  attempt: Number(r.attempt),
  startedAt: Number(r.started_at),
  finishedAt: Number(r.finished_at),
  httpStatus: optNum(r.http_status),
  latencyMs: Number(r.latency_ms),
  responseExcerpt: r.response_excerpt ?? undefined,
  error: r.error ?? undefined,
  outcome: r.outcome as MessageAttemptRecord['outcome'],
});

export function claimMessages(db: Db, profile: BackendProfile, workerId: string, limit: number, now: number, leaseMs: number): Promise<ClaimedMessage[]> {
  return transaction(db, (trx) => claimIn(trx, profile, workerId, limit, now, leaseMs));
}

/**
 * The lease of up to `limit` due messages, oldest due first. An ordered endpoint's message waits
 * while an older one is pending or in flight; the older one is never skipped-locked past, because it
 * is still `pending`/`delivering` in every snapshot. On PostgreSQL the picked rows are updated by
 * their address (`ctid`), which cannot be planned as a join against a scan of the table.
 */
const leaseMessages = (p: { owner: string; until: string; at: string; due: string; limit: string }, skipLocked: boolean) => {
  const pick = (column: string) => `SELECT m.${column} FROM event_messages m
            WHERE m.status = 'pending' AND m.next_attempt_at <= ${p.due}
              AND (m.ordered = 0 OR NOT EXISTS (
                   SELECT 1 FROM event_messages p
                    WHERE p.endpoint_id = m.endpoint_id AND p.id < m.id AND p.status IN ('pending', 'delivering')))
            ORDER BY m.next_attempt_at
            LIMIT ${p.limit} ${skipLocked ? 'FOR UPDATE SKIP LOCKED' : ''}`;
  return `
    UPDATE event_messages
       SET status = 'delivering', lease_owner = ${p.owner}, lease_expires_at = ${p.until},
           attempts = attempts + 1, updated_at = ${p.at}
     WHERE ${skipLocked ? `ctid = ANY(ARRAY(${pick('ctid')}))` : `id IN (${pick('id')})`}
    RETURNING id, endpoint_id, payload, attempts, schedule_from`;
};
/**
 * What a claim returns of each message: what sending it needs, not the whole row, which PostgreSQL
 * turned into a JSON object per message (paired delivery runs: 4–7% more deliveries/s without it).
 */
type ClaimedRow = Pick<EventMessagesTable, 'id' | 'endpoint_id' | 'payload' | 'attempts' | 'schedule_from'>;
/** In this order: worker, lease end, now, now, limit. */
const leaseParams = (p: Placeholder) => ({ owner: p(), until: p(), at: p(), due: p(), limit: p() });

async function claimIn(trx: Trx, profile: BackendProfile, workerId: string, limit: number, now: number, leaseMs: number): Promise<ClaimedMessage[]> {
  if (limit <= 0) return [];
  const rows = await run<ClaimedRow>(trx, statement(profile, 'claim messages', (p) => leaseMessages(leaseParams(p), profile.skipLocked)), [workerId, now + leaseMs, now, now, limit]);
  if (rows.length === 0) return [];
  const endpointIds = padded(profile, [...new Set(rows.map((r) => r.endpoint_id))]);
  const endpoints = await run<Tables['event_endpoints']>(trx, statement(profile, `claimed endpoints ${endpointIds.length}`, (p) => `SELECT * FROM event_endpoints WHERE id IN (${inList(p, endpointIds.length)})`), endpointIds);
  return sendable(trx, rows, endpoints);
}

/** The claimed messages with their endpoints; those whose endpoint is gone or disabled are set aside instead. */
async function sendable(db: Kysely<Tables>, rows: ClaimedRow[], endpoints: Tables['event_endpoints'][]): Promise<ClaimedMessage[]> {
  const byId = new Map(endpoints.map((e) => [e.id, toEndpoint(e)]));
  // Written while its endpoint was being disabled or deleted: kept for recover, not sent.
  const unusable = rows.filter((r) => !byId.get(r.endpoint_id)?.enabled).map((r) => r.id);
  if (unusable.length) {
    await db
      .updateTable('event_messages')
      .set((eb) => ({ status: 'skipped', next_attempt_at: null, lease_owner: null, lease_expires_at: null, attempts: eb('attempts', '-', 1), last_error: 'endpoint disabled' }))
      .where('id', 'in', unusable)
      .execute();
  }
  return rows
    .filter((r) => byId.get(r.endpoint_id)?.enabled)
    .sort((a, b) => (a.id < b.id ? -1 : 1))
    .map((r) => ({ message: { id: r.id, payload: r.payload }, endpoint: byId.get(r.endpoint_id)!, attempt: Number(r.attempts), round: Number(r.attempts) - Number(r.schedule_from) }));
}

/** Records the attempt and moves the message on; false when the lease was lost (nothing written). */
export async function completeMessage(db: Db, profile: BackendProfile, input: CompleteMessageInput, rules: DeliveryRules): Promise<boolean> {
  const r = await settleAndClaimMessages(db, profile, { workerId: input.workerId, completions: [input], claim: 0, now: input.now, leaseMs: 0, rules });
  return r.applied[0]!;
}

/**
 * A dispatcher's turn, like the worker's: every delivery that finished since the last turn is
 * recorded and the next due messages are claimed, in one transaction. Successes — nearly every
 * delivery — settle in three statements for the whole batch; failures go one by one, since each may
 * schedule a retry or disable its endpoint.
 */
export function settleAndClaimMessages(db: Db, profile: BackendProfile, turn: MessageTurn): Promise<{ applied: boolean[]; claimed: ClaimedMessage[] }> {
  if (profile.modifyingCtes && turn.completions.every((c) => c.next.type === 'succeeded')) return successTurnInOne(db, profile, turn);
  return lazyTransaction(db, profile, async (trx) => {
    const applied = turn.completions.map(() => false);
    const wins = turn.completions.flatMap((c, i) => (c.next.type === 'succeeded' ? [{ c, i }] : []));
    const done = await settleSuccesses(trx, profile, wins.map((w) => w.c));
    wins.forEach((w) => (applied[w.i] = done.has(w.c.messageId)));
    for (const [i, c] of turn.completions.entries()) if (c.next.type !== 'succeeded') applied[i] = await settleOne(trx, profile, c, turn.rules);
    const claimed = await claimIn(trx, profile, turn.workerId, turn.claim, turn.now, turn.leaseMs);
    return { applied, claimed };
  });
}

/**
 * Successes from `v` (id, worker_id, attempt and the named status and time columns), each only while
 * still leased to that worker at that attempt; returns the moved messages' ids and endpoints. The
 * status is a guard no index can serve (`unindexed`).
 */
const markDelivered = (profile: BackendProfile, status: string, at: string, returning = '') => `
      UPDATE event_messages
         SET status = 'succeeded', next_attempt_at = NULL, lease_owner = NULL, lease_expires_at = NULL,
             last_http_status = v.${status}, last_error = NULL, updated_at = v.${at}
        FROM v
       WHERE event_messages.id = v.id AND event_messages.lease_owner = v.worker_id
         AND ${unindexed('event_messages.status')} = 'delivering' AND event_messages.attempts = v.attempt${keyedBy(profile, 'event_messages', 'id')}
      RETURNING event_messages.id, event_messages.endpoint_id${returning ? `, ${returning}` : ''}`;

/**
 * The usual turn on PostgreSQL — every outcome a success — as one statement that is its own
 * transaction: the successes, their attempt rows, their endpoints no longer failing, the next claims
 * and those claims' endpoints, with the commit not waiting for the disk (`set_config(…, true)` is
 * `SET LOCAL`; see `lazyTransaction`). One round trip where the steps take eight (BEGIN, SET, five
 * statements, COMMIT): a dispatcher's turn is what its deliveries wait for once its claimed messages
 * run out. Values travel as one array per column, so every batch size shares one text. One
 * statement sees one snapshot: a message settled here frees the next message of an ordered endpoint
 * for the next turn, not this one.
 */
async function successTurnInOne(db: Db, profile: BackendProfile, turn: MessageTurn): Promise<{ applied: boolean[]; claimed: ClaimedMessage[] }> {
  const text = statement(profile, 'delivery turn in one', (p) => {
    const owner = p();
    const won = `unnest(CAST(${p()} AS TEXT[]), CAST(${p()} AS TEXT[]), CAST(${p()} AS INTEGER[]), CAST(${p()} AS INTEGER[]), CAST(${p()} AS BIGINT[]),
                        CAST(${p()} AS BIGINT[]), CAST(${p()} AS INTEGER[]), CAST(${p()} AS TEXT[]))
              AS v(id, worker_id, attempt, http_status, started_at, finished_at, latency_ms, response_excerpt)`;
    const lease = { owner, until: p(), at: p(), due: p(), limit: p() };
    return `
    WITH v AS (SELECT * FROM ${won}),
    moved AS (${markDelivered(profile, 'http_status', 'finished_at', 'event_messages.ordered')}),
    logged AS (
      INSERT INTO event_attempts (message_id, attempt, worker_id, started_at, finished_at, http_status, latency_ms, response_excerpt, error, outcome)
      SELECT v.id, v.attempt, v.worker_id, v.started_at, v.finished_at, v.http_status, v.latency_ms, v.response_excerpt, NULL, 'succeeded'
        FROM v WHERE v.id IN (SELECT id FROM moved)),
    answering AS (
      UPDATE event_endpoints SET failing_since = NULL
       WHERE id = ANY(ARRAY(SELECT endpoint_id FROM moved)) AND failing_since IS NOT NULL),
    claimed AS (${leaseMessages(lease, true)})
    SELECT set_config('synchronous_commit', 'off', true) AS lazy,
      (SELECT coalesce(json_agg(id), '[]') FROM moved) AS done,
      (SELECT coalesce(bool_or(ordered = 1), false) FROM moved) AS freed_ordered,
      (SELECT coalesce(json_agg(c), '[]') FROM claimed c) AS claimed,
      (SELECT coalesce(json_agg(e), '[]') FROM event_endpoints e WHERE e.id = ANY(ARRAY(SELECT endpoint_id FROM claimed))) AS endpoints`;
  }, { prepared: 'queue' });
  const cs = turn.completions;
  const params = [
    turn.workerId,
    cs.map((c) => c.messageId),
    cs.map((c) => c.workerId),
    cs.map((c) => c.attempt.attempt),
    cs.map((c) => c.attempt.httpStatus ?? null),
    cs.map((c) => c.attempt.startedAt),
    cs.map((c) => c.attempt.finishedAt),
    cs.map((c) => Math.round(c.attempt.latencyMs)),
    cs.map((c) => c.attempt.responseExcerpt ?? null),
    turn.now + turn.leaseMs,
    turn.now,
    turn.now,
    Math.max(0, turn.claim),
  ];
  const [row] = await retryTransient(() => run<{ done: string[]; freed_ordered: boolean; claimed: ClaimedRow[]; endpoints: Tables['event_endpoints'][] }>(db, text, params));
  const done = new Set(row!.done);
  const claimed = await sendable(db, row!.claimed, row!.endpoints);
  const left = turn.claim - row!.claimed.length;
  // What this statement settled of an ordered endpoint releases that endpoint's next message, which
  // its snapshot could not see: claim again now rather than a poll interval later.
  if (row!.freed_ordered && left > 0) claimed.push(...(await successTurnInOne(db, profile, { ...turn, completions: [], claim: left })).claimed);
  return { applied: cs.map((c) => done.has(c.messageId)), claimed };
}

const SUCCESS_COLUMNS: ValuesColumns<{ id: string; worker_id: string; attempt: number; last_http_status: number | null; updated_at: number }> = {
  id: 'TEXT', worker_id: 'TEXT', attempt: 'INTEGER', last_http_status: 'INTEGER', updated_at: 'BIGINT',
};

async function settleSuccesses(trx: Trx, profile: BackendProfile, completions: CompleteMessageInput[]): Promise<Set<string>> {
  const done = new Set<string>();
  const endpoints = new Set<string>();
  for (const part of chunks(profile, completions, Object.keys(SUCCESS_COLUMNS).length)) {
    const rows = part.map((c) => ({ id: c.messageId, worker_id: c.workerId, attempt: c.attempt.attempt, last_http_status: c.attempt.httpStatus ?? null, updated_at: c.now }));
    const text = statement(
      profile,
      `delivered ${part.length}`,
      (p) => `${valuesCte(p, SUCCESS_COLUMNS, part.length)} ${markDelivered(profile, 'last_http_status', 'updated_at')}`,
    );
    const moved = await run<{ id: string; endpoint_id: string }>(trx, text, rowParams(rows, valuesNames(SUCCESS_COLUMNS)));
    for (const m of moved) {
      done.add(m.id);
      endpoints.add(m.endpoint_id);
    }
  }
  await insertChunked(trx, profile, 'event_attempts', completions.filter((c) => done.has(c.messageId)).map((c) => attemptRow(c)));
  // An endpoint that answers is no longer failing. As text, like the rest of the turn: through the
  // query builder it was compiled on every turn (with the lazy commit's pragmas as raw builders, 6,261–
  // 6,594 against 6,647–6,770 deliveries/s once both are text; 20,000 events, SQLite).
  const answering = padded(profile, [...endpoints]);
  if (answering.length) {
    const text = statement(profile, `endpoints answering ${answering.length}`, (p) => `UPDATE event_endpoints SET failing_since = NULL WHERE id IN (${inList(p, answering.length)}) AND failing_since IS NOT NULL`);
    await run(trx, text, answering);
  }
  return done;
}

const attemptRow = (input: CompleteMessageInput): EventAttemptsTable => {
  const a = input.attempt;
  return {
    message_id: input.messageId,
    attempt: a.attempt,
    worker_id: input.workerId,
    started_at: a.startedAt,
    finished_at: a.finishedAt,
    http_status: a.httpStatus ?? null,
    latency_ms: Math.round(a.latencyMs),
    response_excerpt: a.responseExcerpt ?? null,
    error: a.error ?? null,
    outcome: a.outcome,
  };
};

/** A delivery that did not succeed: a retry, giving up, or disabling its endpoint. */
async function settleOne(trx: Trx, profile: BackendProfile, input: CompleteMessageInput, rules: DeliveryRules): Promise<boolean> {
  const { next, now } = input;
  const status = next.type === 'retry' ? 'pending' : 'failed';
  const a = input.attempt;
  const moved = await trx
    .updateTable('event_messages')
    .set({
      status,
      next_attempt_at: next.type === 'retry' ? next.at : null,
      lease_owner: null,
      lease_expires_at: null,
      last_http_status: a.httpStatus ?? null,
      last_error: next.type === 'disable_endpoint' ? next.reason : (a.error ?? null),
      updated_at: now,
    })
    .where('id', '=', input.messageId)
    .where('lease_owner', '=', input.workerId)
    .where('status', '=', 'delivering')
    .where('attempts', '=', a.attempt)
    .returning(['endpoint_id'])
    .executeTakeFirst();
  if (!moved) return false;
  await trx.insertInto('event_attempts').values(attemptRow(input)).execute();
  const endpointId = moved.endpoint_id;
  const ep = await trx
    .updateTable('event_endpoints')
    .set((eb) => ({ failing_since: eb.fn.coalesce('failing_since', sql<number>`${now}`) }))
    .where('id', '=', endpointId)
    .returning(['failing_since', 'enabled'])
    .executeTakeFirst();
  if (next.type === 'retry' && Number(ep?.enabled) !== 1) {
    // Disabled while this attempt was in flight: the retry waits for a recover instead.
    await trx.updateTable('event_messages').set({ status: 'skipped', next_attempt_at: null }).where('id', '=', input.messageId).execute();
    return true;
  }
  const reason = next.type === 'disable_endpoint' ? next.reason : rules.disableReason(Number(ep?.failing_since ?? now), now);
  if (reason !== undefined) await disableEndpoint(trx, profile, endpointId, reason, now, rules);
  return true;
}

/**
 * Stops deliveries to an endpoint: what was waiting becomes `skipped` (recover brings it back after
 * re-enabling), and the workspace hears `endpoint.disabled` — on its other endpoints.
 */
async function disableEndpoint(trx: Trx, profile: BackendProfile, endpointId: string, reason: string, now: number, rules: DeliveryRules): Promise<void> {
  const ep = await trx
    .updateTable('event_endpoints')
    .set({ enabled: 0, disabled_reason: reason, updated_at: now })
    .where('id', '=', endpointId)
    .where('enabled', '=', 1)
    .returning(['id', 'workspace_id', 'url', 'failing_since'])
    .executeTakeFirst();
  if (!ep) return;
  await trx
    .updateTable('event_messages')
    .set({ status: 'skipped', next_attempt_at: null, last_error: `endpoint disabled: ${reason}`, updated_at: now })
    .where('endpoint_id', '=', endpointId)
    .where('status', '=', 'pending')
    .execute();
  const failingSince = ep.failing_since === null ? undefined : Number(ep.failing_since);
  await writeEvents(trx, profile, [rules.endpointDisabled({ workspaceId: ep.workspace_id, endpointId: ep.id, url: ep.url, failingSince }, reason, now)]);
}

/** Puts a claimed message back without counting an attempt (the endpoint's rate limit said wait). */
export async function deferMessage(db: Db, messageId: string, workerId: string, attempt: number, runAt: number, now: number): Promise<boolean> {
  const r = await db
    .updateTable('event_messages')
    .set((eb) => ({ status: 'pending', next_attempt_at: runAt, lease_owner: null, lease_expires_at: null, attempts: eb('attempts', '-', 1), updated_at: now }))
    .where('id', '=', messageId)
    .where('lease_owner', '=', workerId)
    .where('status', '=', 'delivering')
    .where('attempts', '=', attempt)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/**
 * Messages whose dispatcher died (lease expired) or shut down go back to the queue, the lost try
 * un-counted. The receiver may have got it: that is at-least-once, and `webhook-id` lets it tell.
 */
export async function requeueMessages(db: Db, which: { owner: string } | { expiredBefore: number }, now: number): Promise<number> {
  let q = db
    .updateTable('event_messages')
    .set((eb) => ({ status: 'pending', next_attempt_at: now, lease_owner: null, lease_expires_at: null, attempts: eb('attempts', '-', 1), updated_at: now }))
    // A literal: SQLite reads the partial index of leased messages without re-preparing per call.
    .where('status', '=', sql.lit('delivering'));
  q = 'owner' in which ? q.where('lease_owner', '=', which.owner) : q.where('lease_expires_at', '<', which.expiredBefore);
  const r = await q.executeTakeFirst();
  return Number(r.numUpdatedRows);
}

async function attemptsOf(db: Db, ids: string[]): Promise<Map<string, MessageAttemptRecord[]>> {
  const out = new Map<string, MessageAttemptRecord[]>();
  if (ids.length === 0) return out;
  const rows = await db.selectFrom('event_attempts').selectAll().where('message_id', 'in', ids).orderBy('message_id').orderBy('attempt').execute();
  for (const r of rows) {
    const list = out.get(r.message_id) ?? [];
    list.push(toAttempt(r));
    out.set(r.message_id, list);
  }
  return out;
}

export async function listMessages(db: Db, q: ListMessagesQuery): Promise<MessageWithAttempts[]> {
  let query = db.selectFrom('event_messages').selectAll().where('workspace_id', '=', q.workspaceId).where('endpoint_id', '=', q.endpointId);
  if (q.status) query = query.where('status', '=', q.status);
  if (q.cursor) query = query.where('id', '<', q.cursor);
  const rows = await query.orderBy('id', 'desc').limit(q.limit).execute();
  const attempts = await attemptsOf(db, rows.map((r) => r.id));
  return rows.map((r) => ({ ...toMessage(r), attemptLog: attempts.get(r.id) ?? [] }));
}

export async function listExecutionMessages(db: Db, executionId: string): Promise<MessageWithAttempts[]> {
  const rows = await db.selectFrom('event_messages').selectAll().where('execution_id', '=', executionId).orderBy('id').execute();
  const attempts = await attemptsOf(db, rows.map((r) => r.id));
  return rows.map((r) => ({ ...toMessage(r), attemptLog: attempts.get(r.id) ?? [] }));
}

/** Sends a message again (same `webhook-id`), with a fresh retry schedule. Pending ones are left alone. */
export function replayMessage(db: Db, profile: BackendProfile, workspaceId: string, messageId: string, now: number): Promise<ReplayOutcome> {
  return transaction(db, async (trx) => {
    const m = await trx
      .selectFrom('event_messages')
      .innerJoin('event_endpoints', 'event_endpoints.id', 'event_messages.endpoint_id')
      .select(['event_messages.status', 'event_endpoints.enabled', 'event_endpoints.deleted_at'])
      .where('event_messages.id', '=', messageId)
      .where('event_messages.workspace_id', '=', workspaceId)
      .executeTakeFirst();
    if (!m || m.deleted_at !== null) return 'not_found';
    if (Number(m.enabled) !== 1) return 'endpoint_disabled';
    const r = await trx
      .updateTable('event_messages')
      .set((eb) => ({ status: 'pending', next_attempt_at: now, schedule_from: eb.ref('attempts'), last_error: null, updated_at: now }))
      .where('id', '=', messageId)
      .where('status', 'in', ['succeeded', 'failed', 'skipped'])
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) return 'in_flight';
    await notifyWork(trx, profile, 'messages');
    return 'replayed';
  });
}

/** Re-queues every failed or skipped message of an endpoint created at or after `since`. */
export function recoverMessages(db: Db, profile: BackendProfile, workspaceId: string, endpointId: string, since: number, now: number): Promise<number | 'not_found' | 'endpoint_disabled'> {
  return transaction(db, async (trx) => {
    const ep = await trx
      .selectFrom('event_endpoints')
      .select(['enabled'])
      .where('id', '=', endpointId)
      .where('workspace_id', '=', workspaceId)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    if (!ep) return 'not_found';
    if (Number(ep.enabled) !== 1) return 'endpoint_disabled';
    const r = await trx
      .updateTable('event_messages')
      .set((eb) => ({ status: 'pending', next_attempt_at: now, schedule_from: eb.ref('attempts'), last_error: null, updated_at: now }))
      .where('endpoint_id', '=', endpointId)
      .where('status', 'in', ['failed', 'skipped'])
      .where('created_at', '>=', since)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) > 0) await notifyWork(trx, profile, 'messages');
    return Number(r.numUpdatedRows);
  });
}
