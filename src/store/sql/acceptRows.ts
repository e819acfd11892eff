import type { AcceptItem, NewExecution, WebhookCallRecord } from '../store.ts';
import { toJson } from './rows.ts';
import type { IdempotencyKeysTable, Tables } from './tables.ts';

/** The rows an accept writes, the same for either way of writing them (accept.ts, acceptStatement.ts). */

/** Every column of a table, in a fixed order; the compiler checks that none is missing. */
type AllOf<R, C extends readonly (keyof R)[]> = [Exclude<keyof R, C[number]>] extends [never] ? C : never;
const all =
  <R>() =>
  <const C extends readonly (keyof R & string)[]>(columns: AllOf<R, C>): C =>
    columns;

/** The columns of each table an accept writes, for statements that name them. */
export const COLUMNS = {
  idempotency_keys: all<Tables['idempotency_keys']>()(['workspace_id', 'scope', 'key', 'request_hash', 'execution_id', 'response', 'created_at', 'expires_at']),
  executions: all<Tables['executions']>()([
    'id', 'workspace_id', 'workflow_id', 'workflow_version', 'status', 'trigger', 'variables', 'err_code', 'err_msg',
    'created_at', 'started_at', 'finished_at', 'deadline_at', 'triggered_by', 'trigger_key', 'trigger_headers',
  ]),
  node_executions: all<Tables['node_executions']>()([
    'execution_id', 'node_id', 'position', 'kind', 'title', 'deps', 'status', 'attempts', 'runnable_at', 'lease_owner', 'lease_expires_at',
    'output', 'messages', 'usage', 'err_code', 'err_msg', 'started_at', 'finished_at', 'drift', 'wait_reason',
  ]),
  node_attempts: all<Tables['node_attempts']>()([
    'execution_id', 'node_id', 'attempt', 'worker_id', 'status', 'http_status', 'err_code', 'err_msg', 'started_at', 'finished_at', 'next_attempt_at', 'input',
  ]),
  event_endpoints: all<Tables['event_endpoints']>()([
    'id', 'workspace_id', 'url', 'description', 'event_types', 'enabled', 'ordered', 'headers', 'rate_limit', 'secret', 'previous_secret',
    'previous_secret_expires_at', 'execution_id', 'disabled_reason', 'failing_since', 'created_at', 'updated_at', 'deleted_at',
  ]),
  webhook_calls: all<Tables['webhook_calls']>()([
    'id', 'webhook_id', 'status', 'http_status', 'err_code', 'execution_id', 'response_ms', 'source_ip', 'body_size', 'duplicate', 'created_at',
  ]),
  event_messages: all<Tables['event_messages']>()([
    'id', 'endpoint_id', 'workspace_id', 'event_type', 'execution_id', 'payload', 'status', 'ordered', 'attempts', 'schedule_from',
    'next_attempt_at', 'lease_owner', 'lease_expires_at', 'last_http_status', 'last_error', 'created_at', 'updated_at',
  ]),
};

/** One idempotency key's identity within a batch. */
export const keyOf = (ws: string, scope: string, key: string): string => `${ws}\u0000${scope}\u0000${key}`;

/** The idempotency key row an item claims (it has an execution and a key). */
function keyRow({ execution: e, idempotency: idem }: AcceptItem): IdempotencyKeysTable {
  return {
    workspace_id: e!.workspaceId,
    scope: idem!.scope,
    key: idem!.key,
    request_hash: idem!.requestHash,
    execution_id: e!.executionId,
    response: JSON.stringify(idem!.response),
    created_at: e!.now,
    expires_at: e!.now + idem!.ttlMs,
  };
}

/**
 * The key rows of a batch's key owners (key → item index), sorted by key, so two processes' batches
 * take the key locks in one order (PostgreSQL).
 */
export const keyRowsInLockOrder = (items: readonly AcceptItem[], owners: ReadonlyMap<string, number>): IdempotencyKeysTable[] =>
  [...owners.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, i]) => keyRow(items[i]!));

/** The key an item is accepted under, if it creates a run under one. */
export const itemKey = (it: AcceptItem): string | undefined => (it.execution && it.idempotency ? keyOf(it.execution.workspaceId, it.idempotency.scope, it.idempotency.key) : undefined);

/** Who ran the nodes of a run its accept settled, in their attempt rows (a worker writes its own id there). */
const ACCEPT_WORKER_ID = 'accept';

/** A run's execution row: queued, or, for a run its accept settled, as it ended. */
export function executionRow({ execution: e, idempotency }: AcceptItem): Tables['executions'] {
  const s = e!.settled;
  return {
    id: e!.executionId,
    workspace_id: e!.workspaceId,
    workflow_id: e!.canvasId,
    workflow_version: e!.version,
    status: s?.status ?? 'init',
    trigger: e!.trigger,
    variables: JSON.stringify(e!.variables),
    err_code: s?.errCode ?? null,
    err_msg: s?.errMsg ?? null,
    created_at: e!.now,
    started_at: s ? e!.now : null,
    finished_at: s ? e!.now : null,
    deadline_at: e!.deadlineAt,
    triggered_by: e!.triggeredBy ?? null,
    trigger_key: idempotency?.key ?? e!.triggerKey ?? null,
    trigger_headers: e!.triggerHeaders ? JSON.stringify(e!.triggerHeaders) : null,
  };
}

/** A run's node rows: its roots released to the queue, or, for a run its accept settled, as they ended. */
export function nodeRows(e: NewExecution): Tables['node_executions'][] {
  const ended = new Map(e.settled?.nodes.map((n) => [n.nodeId, n]));
  return e.nodes.map((n, position) => {
    const s = ended.get(n.nodeId);
    return {
      execution_id: e.executionId,
      node_id: n.nodeId,
      position,
      kind: n.kind,
      title: n.title ?? null,
      deps: JSON.stringify(n.deps),
      status: s?.status ?? 'init',
      attempts: s && s.status !== 'skipped' ? 1 : 0,
      // Roots are released to the queue in the same transaction that accepts the run.
      runnable_at: !e.settled && n.deps.length === 0 ? e.now : null,
      lease_owner: null,
      lease_expires_at: null,
      output: s?.status === 'finish' ? toJson(s.output) : null,
      messages: s && s.status !== 'skipped' ? toJson(s.messages) : null,
      usage: null,
      err_code: s?.status === 'failed' ? s.errCode : null,
      err_msg: s?.status === 'failed' ? s.errMsg : null,
      started_at: s && s.status !== 'skipped' ? e.now : null,
      finished_at: s ? e.now : null,
      drift: null,
      wait_reason: null,
    };
  });
}

/** The attempt of each node a run's accept evaluated: one, started and ended at the accept. */
export function attemptRows(e: NewExecution): Tables['node_attempts'][] {
  return (e.settled?.nodes ?? []).flatMap((n) =>
    n.status === 'skipped'
      ? []
      : [
          {
            execution_id: e.executionId,
            node_id: n.nodeId,
            attempt: 1,
            worker_id: ACCEPT_WORKER_ID,
            status: n.status,
            http_status: null,
            err_code: n.status === 'failed' ? n.errCode : null,
            err_msg: n.status === 'failed' ? n.errMsg : null,
            started_at: e.now,
            finished_at: e.now,
            next_attempt_at: null,
            input: null,
          },
        ],
  );
}

export function callbackRow(e: NewExecution): Tables['event_endpoints'] {
  const cb = e.callback!;
  return {
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
  };
}

export function callRow(c: WebhookCallRecord, executionId: string | undefined, duplicate: boolean): Tables['webhook_calls'] {
  const accepted = c.status !== 'rejected';
  return {
    id: c.recordId,
    webhook_id: c.webhookId,
    status: accepted ? (duplicate ? 'duplicate' : 'accepted') : 'rejected',
    http_status: c.httpStatus,
    err_code: c.errCode ?? null,
    execution_id: executionId ?? null,
    response_ms: Math.round(c.responseTime),
    source_ip: c.sourceIp ?? null,
    body_size: c.bodySize,
    duplicate: accepted && duplicate ? 1 : 0,
    created_at: c.createdAt,
  };
}
