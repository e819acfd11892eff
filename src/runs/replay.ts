import type { Config } from '../config.ts';
import { fail, ok, type Result } from '../errors.ts';
import type { Bus } from '../engine/bus.ts';
import { SCHEDULING_RULES } from '../engine/rules.ts';
import type { ExecutionStatus, Store } from '../store/store.ts';

export interface ReplayDeps {
  store: Store;
  config: Config;
  bus: Bus;
  now?: () => number;
}

export interface Replayed {
  executionId: string;
  status: ExecutionStatus;
  /** False when the execution was not failed (already running again, or finished): nothing changed. */
  retried: boolean;
}

/**
 * Resume a failed or aborted execution from its failed nodes, same inputs, same version,
 * finished nodes kept. Idempotent: replaying a run that is already running again changes nothing.
 */
export async function replayExecution(deps: ReplayDeps, workspaceId: string, executionId: string): Promise<Result<Replayed>> {
  const now = (deps.now ?? Date.now)();
  const e = await deps.store.runs.getExecution(workspaceId, executionId);
  if (!e) return fail('EXECUTION_NOT_FOUND', `Execution ${executionId} not found`);
  const def = await deps.store.catalog.getWorkflowVersion(workspaceId, e.canvasId, e.version);
  const retried = await deps.store.runs.retryExecution(executionId, now, now + (def?.timeoutMs ?? deps.config.executionTimeoutMs), SCHEDULING_RULES);
  if (retried) deps.bus.emit('execution.created', executionId);
  const after = await deps.store.runs.getExecution(workspaceId, executionId);
  return ok({ executionId, status: after!.status, retried });
}

export interface BulkReplayQuery {
  canvasId?: string;
  since?: number;
  until?: number;
  /** At most this many executions per call; the answer says whether more remain. */
  limit: number;
}

/** Replays failed executions matching the query, newest first. */
export async function replayFailed(deps: ReplayDeps, workspaceId: string, q: BulkReplayQuery): Promise<{ retried: string[]; more: boolean }> {
  const page = await deps.store.runs.listExecutions({ workspaceId, status: 'failed', canvasId: q.canvasId, since: q.since, until: q.until, limit: q.limit + 1 });
  const retried: string[] = [];
  for (const e of page.slice(0, q.limit)) {
    const r = await replayExecution(deps, workspaceId, e.executionId);
    if (r.ok && r.value.retried) retried.push(e.executionId);
  }
  return { retried, more: page.length > q.limit };
}
