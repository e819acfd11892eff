import type { ErrorCode } from '../../errors.ts';
import type { AttemptRecord, ExecutionRecord, ExecutionStatus, NodeRecord, NodeStatus, Trigger } from '../store.ts';
import type { ExecutionsTable, NodeAttemptsTable, NodeExecutionsTable } from './tables.ts';

/** JSON columns are TEXT in both dialects. */
export const toJson = (v: unknown): string | null => (v === undefined ? null : JSON.stringify(v));
export const fromJson = <T = unknown>(s: string | null): T | undefined => (s === null ? undefined : (JSON.parse(s) as T));

/** pg returns BIGINT as a number thanks to the type parser in postgres/open.ts; SQLite already does. */
export const opt = <T>(v: T | null): T | undefined => (v === null ? undefined : v);
export const optNum = (v: number | null): number | undefined => (v === null ? undefined : Number(v));

/**
 * The columns each mapper reads, for statements that name them: a prepared `SELECT *` fails with
 * "cached plan must not change result type" once a migration adds a column under a running process.
 */
export const EXECUTION_COLUMNS = [
  'id', 'workspace_id', 'workflow_id', 'workflow_version', 'status', 'trigger', 'variables', 'err_code', 'err_msg',
  'created_at', 'started_at', 'finished_at', 'deadline_at', 'triggered_by', 'trigger_key', 'trigger_headers',
] as const satisfies readonly (keyof ExecutionsTable)[];
export const NODE_COLUMNS = [
  'execution_id', 'node_id', 'position', 'kind', 'title', 'deps', 'status', 'attempts', 'output', 'messages', 'usage',
  'err_code', 'err_msg', 'started_at', 'finished_at', 'drift', 'runnable_at', 'wait_reason',
] as const satisfies readonly (keyof NodeExecutionsTable)[];
export const ATTEMPT_COLUMNS = [
  'execution_id', 'node_id', 'attempt', 'worker_id', 'status', 'http_status', 'err_code', 'err_msg', 'started_at', 'finished_at', 'next_attempt_at', 'input',
] as const satisfies readonly (keyof NodeAttemptsTable)[];

export function toExecution(r: Pick<ExecutionsTable, (typeof EXECUTION_COLUMNS)[number]>): ExecutionRecord {
  return {
    executionId: r.id,
    workspaceId: r.workspace_id,
    canvasId: r.workflow_id,
    version: Number(r.workflow_version),
    status: r.status as ExecutionStatus,
    trigger: r.trigger as Trigger,
    variables: fromJson(r.variables) ?? {},
    errCode: opt(r.err_code) as ErrorCode | undefined,
    errMsg: opt(r.err_msg),
    createdAt: Number(r.created_at),
    startedAt: r.started_at === null ? undefined : Number(r.started_at),
    finishedAt: r.finished_at === null ? undefined : Number(r.finished_at),
    deadlineAt: Number(r.deadline_at),
    triggeredBy: opt(r.triggered_by),
    triggerKey: opt(r.trigger_key),
    triggerHeaders: fromJson<Record<string, string>>(r.trigger_headers),
  };
}

export function toNode(r: Pick<NodeExecutionsTable, (typeof NODE_COLUMNS)[number]>): NodeRecord {
  return {
    executionId: r.execution_id,
    nodeId: r.node_id,
    position: Number(r.position),
    kind: r.kind,
    title: opt(r.title),
    deps: fromJson<string[]>(r.deps) ?? [],
    status: r.status as NodeStatus,
    attempts: Number(r.attempts),
    output: fromJson(r.output),
    messages: fromJson(r.messages),
    usage: fromJson(r.usage),
    errCode: opt(r.err_code) as ErrorCode | undefined,
    errMsg: opt(r.err_msg),
    startedAt: r.started_at === null ? undefined : Number(r.started_at),
    finishedAt: r.finished_at === null ? undefined : Number(r.finished_at),
    drift: fromJson(r.drift ?? null),
    runnableAt: r.runnable_at === null ? undefined : Number(r.runnable_at),
    waitReason: fromJson(r.wait_reason ?? null),
  };
}

export function toAttempt(r: Pick<NodeAttemptsTable, (typeof ATTEMPT_COLUMNS)[number]>): AttemptRecord {
  return {
    executionId: r.execution_id,
    nodeId: r.node_id,
    attempt: Number(r.attempt),
    workerId: r.worker_id,
    status: r.status as AttemptRecord['status'],
    httpStatus: r.http_status === null ? undefined : Number(r.http_status),
    errCode: opt(r.err_code) as ErrorCode | undefined,
    errMsg: opt(r.err_msg),
    startedAt: Number(r.started_at),
    finishedAt: r.finished_at === null ? undefined : Number(r.finished_at),
    nextAttemptAt: r.next_attempt_at === null ? undefined : Number(r.next_attempt_at),
    input: fromJson(r.input),
  };
}
