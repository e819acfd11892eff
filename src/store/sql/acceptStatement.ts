import type { Kysely } from 'kysely';
import type { AcceptItem, AcceptOutcome } from '../store.ts';
import type { BackendProfile } from './profile.ts';
import { acceptInTransaction } from './accept.ts';
import { attemptRows, callbackRow, callRow, COLUMNS, executionRow, itemKey, keyRowsInLockOrder, nodeRows } from './acceptRows.ts';
import { WORK_CHANNEL } from './notify.ts';
import { fingerprintOf, hearsWorkspace, type ListenerCache, type WorkspaceListeners } from './listenerCache.ts';
import { listenerOf, messageRows, type Listener } from './outbox.ts';
import { columnList, run, statement } from './statements.ts';
import type { Tables } from './tables.ts';
import { retryTransient } from './tx.ts';

type Db = Kysely<Tables>;

/** `INSERT INTO table (…) SELECT …` of the rows in one JSON parameter, typed by the table's own row type. */
function fromJson(table: keyof typeof COLUMNS, param: string, where?: string): string {
  const cols = COLUMNS[table];
  return `INSERT INTO ${table} (${columnList(cols)})
          SELECT ${cols.map((c) => `r."${c}"`).join(', ')} FROM json_populate_recordset(NULL::${table}, CAST(${param} AS json)) r${where ? ` WHERE ${where}` : ''}`;
}

/**
 * The whole accept of a batch as one statement of data-modifying CTEs, committed on its own: one
 * round trip where the transaction takes eight or more (BEGIN, the key claim, an insert per table,
 * the endpoint read, COMMIT), each waiting its turn on a busy event loop. Each table's rows travel
 * as one JSON parameter, so the text is the same for every batch size and is prepared once per
 * connection: it only inserts, and its one lookup is the key claim's conflict check, which always
 * uses the primary key, so a generic plan is no worse than a fresh one. A run whose key the claim
 * did not win inserts nothing: every row of a run is filtered on the runs the statement created.
 * Keys arrive sorted, so two processes' batches take their locks in one order.
 *
 * The messages were built from endpoints read earlier (`ListenerCache`); `stale` compares them with
 * the endpoints in the statement's own snapshot, and if any workspace's differ the statement writes
 * nothing — every row hangs on `k`, `e` or `rc`, which are gated on it — and names those workspaces.
 *
 * Parameters: $1 key rows, $2 execution rows, $3 ids of runs without a key, $4 node rows, $5 attempt
 * rows, $6 callback endpoints, $7 call rows of the runs, $8 call rows recorded whatever happens,
 * $9 messages (`{x: execution id, r: row}`), $10 the wake-up channel, $11 the fingerprint of the
 * endpoints each workspace's messages were built from (`{w: workspace id, f: fingerprint}`).
 */
const ACCEPT = (p: () => string): string => {
  const [keys, executions, free, nodes, attempts, callbacks, calls, recorded, messages, channel, heard] = Array.from({ length: 11 }, p);
  const created = `IN (SELECT id FROM e)`;
  const current = `NOT EXISTS (SELECT 1 FROM stale)`;
  const m = COLUMNS.event_messages;
  return `WITH stale AS (
      SELECT h.w FROM json_to_recordset(CAST(${heard} AS json)) AS h(w TEXT, f TEXT)
       WHERE h.f <> (SELECT ${fingerprintOf('ep')} FROM event_endpoints ep WHERE ep.workspace_id = h.w AND ${hearsWorkspace('ep')})
    ),
    k AS (
      ${fromJson('idempotency_keys', keys!, current)}
      ON CONFLICT (workspace_id, scope, "key") DO UPDATE
         SET request_hash = excluded.request_hash, execution_id = excluded.execution_id, response = excluded.response,
             created_at = excluded.created_at, expires_at = excluded.expires_at
       WHERE idempotency_keys.expires_at <= excluded.created_at
      RETURNING execution_id
    ),
    e AS (${fromJson('executions', executions!, `(r.id = ANY(CAST(${free} AS TEXT[])) OR r.id IN (SELECT execution_id FROM k)) AND ${current}`)} RETURNING id, status),
    n AS (${fromJson('node_executions', nodes!, `r.execution_id ${created}`)}),
    a AS (${fromJson('node_attempts', attempts!, `r.execution_id ${created}`)}),
    cb AS (${fromJson('event_endpoints', callbacks!, `r.execution_id ${created}`)}),
    c AS (${fromJson('webhook_calls', calls!, `r.execution_id ${created}`)}),
    rc AS (${fromJson('webhook_calls', recorded!, current)}),
    m AS (
      INSERT INTO event_messages (${columnList(m)})
      SELECT ${m.map((c) => `r."${c}"`).join(', ')}
        FROM json_array_elements(CAST(${messages} AS json)) j, LATERAL json_populate_record(NULL::event_messages, j->'r') r
       WHERE j->>'x' ${created}
      RETURNING status
    ),
    wake AS (
      SELECT pg_notify(CAST(${channel} AS TEXT), w.kind) FROM (
        SELECT 'nodes' AS kind WHERE EXISTS (SELECT 1 FROM e WHERE e.status = 'init')
        UNION ALL SELECT 'messages' WHERE EXISTS (SELECT 1 FROM m WHERE m.status = 'pending')
      ) w
    )
    -- A CTE that modifies nothing runs only if read: counting wake is what sends its notifications.
    SELECT ARRAY(SELECT execution_id FROM k) AS won, (SELECT count(*) FROM wake) AS woken, ARRAY(SELECT w FROM stale) AS stale`;
};

/** Accepts a batch the way its store does best: one statement on PostgreSQL, one transaction elsewhere. */
export function acceptMany(db: Db, profile: BackendProfile, items: readonly AcceptItem[], listeners: ListenerCache): Promise<AcceptOutcome[]> {
  if (items.length === 0) return Promise.resolve([]);
  return profile.modifyingCtes ? acceptInOneStatement(db, profile, items, listeners) : acceptInTransaction(db, profile, items);
}

/** Statements a batch may find its cached endpoints stale in before it reads them in a transaction instead. */
const STALE_RETRIES = 3;

/**
 * Accepts a batch on PostgreSQL in one statement (see ACCEPT), its messages built from the endpoints
 * `listeners` holds for its workspaces. Runs without a key, key owners and bare call records go in it;
 * what needs the key holder's row — a second item with a key already in the batch, a key the statement
 * did not win — goes through `acceptInTransaction` afterwards, where its outcome (replay, reuse, or a
 * key that expired meanwhile) is decided as before. If the statement fails, nothing of it committed
 * and the whole batch takes that path; if it found endpoints changed, nothing of it committed either,
 * and it runs again with them read afresh.
 *
 * The endpoints an event is fanned out to are those of the statement's snapshot, as in a transaction
 * that reads them first: an endpoint committed before the statement began hears it.
 */
export async function acceptInOneStatement(db: Db, profile: BackendProfile, items: readonly AcceptItem[], listeners: ListenerCache): Promise<AcceptOutcome[]> {
  const outcomes: (AcceptOutcome | undefined)[] = new Array(items.length);
  const owners = new Map<string, number>();
  const inStatement: number[] = [];
  const later: number[] = [];
  items.forEach((it, i) => {
    const k = itemKey(it);
    if (k === undefined) inStatement.push(i);
    else if (owners.has(k)) later.push(i);
    else {
      owners.set(k, i);
      inStatement.push(i);
    }
  });

  const runs = inStatement.filter((i) => items[i]!.execution);
  const runOf = (i: number) => items[i]!.execution!;
  const workspaces = [...new Set(runs.flatMap((i) => (items[i]!.events ?? []).map((e) => e.workspaceId)))];
  // The runs are new: their callback endpoints are not in the database yet, but in this batch.
  const callbacks = runs.flatMap((i) => (runOf(i).callback ? [listenerOf(callbackRow(runOf(i)))] : []));
  const rows = [
    JSON.stringify(keyRowsInLockOrder(items, owners)),
    JSON.stringify(runs.map((i) => executionRow(items[i]!))),
    runs.filter((i) => !items[i]!.idempotency).map((i) => runOf(i).executionId),
    JSON.stringify(runs.flatMap((i) => nodeRows(runOf(i)))),
    JSON.stringify(runs.flatMap((i) => attemptRows(runOf(i)))),
    JSON.stringify(runs.flatMap((i) => (runOf(i).callback ? [callbackRow(runOf(i))] : []))),
    JSON.stringify(runs.flatMap((i) => (items[i]!.call ? [callRow(items[i]!.call!, runOf(i).executionId, false)] : []))),
    JSON.stringify(inStatement.flatMap((i) => (!items[i]!.execution && items[i]!.call ? [callRow(items[i]!.call!, items[i]!.call!.executionId, items[i]!.call!.duplicate)] : []))),
  ];

  let won: Set<string> | undefined;
  try {
    const text = statement(profile, 'accept in one statement', ACCEPT, { prepared: true });
    for (let attempt = 0; attempt < STALE_RETRIES && !won; attempt++) {
      const heard = workspaces.length ? await listeners.of(db, workspaces) : new Map<string, WorkspaceListeners>();
      const hearing: Listener[] = [...[...heard.values()].flatMap((h) => h.listeners), ...callbacks];
      const messages = runs.flatMap((i) => messageRows(items[i]!.events ?? [], hearing).map((r) => ({ x: runOf(i).executionId, r })));
      const fingerprints = [...heard].map(([w, h]) => ({ w, f: h.fingerprint }));
      const params = [...rows, JSON.stringify(messages), WORK_CHANNEL, JSON.stringify(fingerprints)];
      // A deadlock victim or a serialisation failure committed nothing and can run again.
      const [row] = await retryTransient(() => run<{ won: string[]; stale: string[] }>(db, text, params));
      if (row!.stale.length) listeners.forget(row!.stale);
      else won = new Set(row!.won);
    }
  } catch {
    // Nothing of the statement committed: the batch is accepted the general way (which retries each
    // item on its own if the batch fails there too).
    return acceptInTransaction(db, profile, items);
  }
  // Endpoints that kept changing under the statement: a transaction reads them with its writes.
  if (!won) return acceptInTransaction(db, profile, items);

  for (const i of inStatement) {
    const it = items[i]!;
    if (!it.execution) outcomes[i] = { type: 'recorded' };
    else if (!it.idempotency || won.has(it.execution.executionId)) outcomes[i] = { type: 'created', executionId: it.execution.executionId };
    else later.push(i);
  }
  if (later.length) {
    later.sort((a, b) => a - b);
    const rest = await acceptInTransaction(db, profile, later.map((i) => items[i]!));
    later.forEach((i, j) => (outcomes[i] = rest[j]));
  }
  return outcomes as AcceptOutcome[];
}
