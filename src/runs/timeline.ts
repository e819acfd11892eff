import type { AttemptRecord, ExecutionRecord, MessageWithAttempts, NodeRecord } from '../store/store.ts';
import { iso, waitingFor } from './views.ts';


/** How the run came in: the surface, the key or webhook that accepted it, its dedupe key and passed-on headers. */
function triggerView(e: ExecutionRecord) {
  const key = e.triggerKey;
  const body = key?.startsWith('body:');
  return {
    type: e.trigger,
    apiKeyId: e.triggeredBy?.startsWith('ak-') ? e.triggeredBy : undefined,
    webhookId: e.triggeredBy?.startsWith('wh_') ? e.triggeredBy : undefined,
    // Webhook keys are the sender's Idempotency-Key or webhook-id; without one, Refly's 1 s debounce
    // keyed the body's hash.
    idempotencyKey: key && !body ? key : undefined,
    bodySha256: body ? key!.slice(5) : undefined,
    // What the workflow saw as `trigger.headers`.
    headers: e.triggerHeaders,
  };
}

/**
 * One execution's story in time order (issue 7): how it was triggered, every node attempt, the end,
 * and every outbound event about it with each delivery attempt.
 */
export function timelineView(e: ExecutionRecord, attempts: AttemptRecord[], messages: MessageWithAttempts[], nodes: NodeRecord[] = []) {
  type Entry = { at: number; [k: string]: unknown };
  const entries: Entry[] = [{ at: e.createdAt, type: 'execution.accepted' }];
  if (e.startedAt !== undefined) entries.push({ at: e.startedAt, type: 'execution.started' });
  // Attempts begun in the same millisecond (a worker's turn, or a run its accept evaluated) go in the
  // workflow's task order, not the store's (node id) order.
  const position = new Map(nodes.map((n) => [n.nodeId, n.position]));
  const inOrder = [...attempts].sort((a, b) => a.startedAt - b.startedAt || (position.get(a.nodeId) ?? 0) - (position.get(b.nodeId) ?? 0) || a.attempt - b.attempt);
  for (const a of inOrder) {
    entries.push({
      at: a.startedAt,
      type: 'node.attempt',
      nodeId: a.nodeId,
      attempt: a.attempt,
      status: a.status,
      endTime: iso(a.finishedAt),
      httpStatus: a.httpStatus,
      errCode: a.errCode,
      errorMessage: a.errMsg,
      nextAttemptAt: iso(a.nextAttemptAt),
    });
  }
  if (e.finishedAt !== undefined && (e.status === 'finish' || e.status === 'failed')) {
    entries.push({ at: e.finishedAt, type: e.status === 'finish' ? 'execution.finished' : 'execution.failed', errCode: e.errCode, errMsg: e.errMsg });
  }
  for (const m of messages) {
    entries.push({
      at: m.createdAt,
      type: 'event.message',
      messageId: m.id,
      eventType: m.eventType,
      endpointId: m.endpointId,
      status: m.status,
      nextAttemptAt: m.status === 'pending' ? iso(m.nextAttemptAt) : undefined,
      deliveries: m.attemptLog.map((d) => ({
        attempt: d.attempt,
        outcome: d.outcome,
        httpStatus: d.httpStatus,
        latencyMs: d.latencyMs,
        error: d.error,
        startTime: iso(d.startedAt),
      })),
    });
  }
  // Stable sort keeps same-millisecond entries in causal order (accepted, started, attempts, end).
  entries.sort((a, b) => a.at - b.at);
  return {
    executionId: e.executionId,
    canvasId: e.canvasId,
    status: e.status,
    trigger: triggerView(e),
    timeline: entries.map(({ at, ...rest }) => ({ time: iso(at), ...rest })),
    // What the run is waiting on now, if anything: the nodes that wait for a retry or an open circuit.
    waiting: nodes.flatMap((n) => {
      const w = waitingFor(n);
      return w ? [{ nodeId: n.nodeId, ...w }] : [];
    }),
  };
}
