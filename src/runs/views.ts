import type { AttemptRecord, ExecutionRecord, NodeRecord } from '../store/store.ts';

/**
 * The response shapes of the status and output endpoints. Times are
 * ISO 8601 strings; absent values are omitted rather than null.
 */
export const iso = (ms: number | undefined): string | undefined => (ms === undefined ? undefined : new Date(ms).toISOString());

export function attemptView(a: AttemptRecord) {
  return {
    attempt: a.attempt,
    status: a.status,
    startTime: iso(a.startedAt),
    endTime: iso(a.finishedAt),
    httpStatus: a.httpStatus,
    errCode: a.errCode,
    errorMessage: a.errMsg,
    nextAttemptAt: iso(a.nextAttemptAt),
    retryDelayMs: a.nextAttemptAt !== undefined && a.finishedAt !== undefined ? a.nextAttemptAt - a.finishedAt : undefined,
  };
}

/**
 * Refly's node statuses are init | waiting | executing | finish | failed: a node skipped by a false
 * condition is reported `finish` (it is resolved and will never run) with Flowgate's own
 * `skipped: true` and `flowgateStatus: "skipped"` beside it, so strict Refly clients decode it and
 * Flowgate clients still see what happened.
 */
export function reflyNodeStatus(status: NodeRecord['status']): { status: Exclude<NodeRecord['status'], 'skipped'>; skipped?: true; flowgateStatus?: 'skipped' } {
  return status === 'skipped' ? { status: 'finish', skipped: true, flowgateStatus: 'skipped' } : { status };
}

/**
 * Why a waiting node waits and until when: `retry` after a failed attempt, `circuit` while its host's
 * breaker is open. Undefined for a node that is not waiting on a clock.
 */
export function waitingFor(n: NodeRecord): { reason: 'retry' | 'circuit'; until: string; host?: string; errCode?: string } | undefined {
  if (n.status !== 'waiting' || n.runnableAt === undefined) return undefined;
  const until = new Date(n.runnableAt).toISOString();
  if (n.waitReason?.kind === 'circuit') return { reason: 'circuit', host: n.waitReason.host, until };
  if (n.errCode) return { reason: 'retry', until, errCode: n.errCode };
  return undefined;
}

export function statusView(e: ExecutionRecord, nodes: NodeRecord[], attempts: AttemptRecord[]) {
  return {
    executionId: e.executionId,
    canvasId: e.canvasId,
    version: e.version,
    status: e.status,
    trigger: e.trigger,
    nodeExecutions: nodes.map((n) => ({
      nodeId: n.nodeId,
      title: n.title ?? n.nodeId,
      kind: n.kind,
      dependsOn: n.deps,
      ...reflyNodeStatus(n.status),
      errCode: n.errCode,
      errorMessage: n.errMsg,
      attempts: attempts.filter((a) => a.nodeId === n.nodeId).map(attemptView),
      waitingFor: waitingFor(n),
      drift: n.drift,
      startTime: iso(n.startedAt),
      endTime: iso(n.finishedAt),
    })),
    createdAt: iso(e.createdAt),
    startedAt: iso(e.startedAt),
    finishedAt: iso(e.finishedAt),
    errCode: e.errCode,
    errMsg: e.errMsg,
  };
}

export function summaryView(e: ExecutionRecord) {
  return {
    executionId: e.executionId,
    canvasId: e.canvasId,
    status: e.status,
    trigger: e.trigger,
    createdAt: iso(e.createdAt),
    startedAt: iso(e.startedAt),
    finishedAt: iso(e.finishedAt),
    errCode: e.errCode,
    errMsg: e.errMsg,
  };
}

interface MessageLike {
  messageId?: string;
  type?: string;
  content?: string;
  reasoningContent?: string;
}

/**
 * Result nodes are the `output` tasks (Refly's "result nodes"); a workflow without any reports its
 * leaves instead. Each carries the messages of the agent tasks it depends on, so a caller sees the
 * conversation that produced the value. Partial while the run is going.
 */
export function outputView(nodes: NodeRecord[]) {
  const byId = new Map(nodes.map((n) => [n.nodeId, n]));
  const hasDependents = new Set(nodes.flatMap((n) => n.deps));
  const outputs = nodes.filter((n) => n.kind === 'output');
  const results = outputs.length > 0 ? outputs : nodes.filter((n) => !hasDependents.has(n.nodeId));
  return {
    output: results.map((n) => {
      const sources = n.kind === 'agent' ? [n] : n.deps.map((d) => byId.get(d)).filter((d): d is NodeRecord => d?.kind === 'agent');
      const messages = sources.flatMap((s) => ((s.messages as MessageLike[] | undefined) ?? []).map((m) => ({
        messageId: m.messageId,
        type: m.type,
        content: m.content,
        reasoningContent: m.reasoningContent,
      })));
      return {
        nodeId: n.nodeId,
        title: n.title ?? n.nodeId,
        status: n.status,
        errorMessage: n.errMsg,
        startTime: iso(n.startedAt),
        endTime: iso(n.finishedAt),
        messages,
        value: n.output ?? null,
      };
    }),
  };
}
