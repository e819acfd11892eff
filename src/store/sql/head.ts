import type { ExecutionFacts } from '../../delivery/payloads.ts';
import type { ExecutionsTable } from './tables.ts';

/** The execution fields a transition reads under the execution's lock (events report them). */
export type Head = Pick<ExecutionsTable, 'id' | 'status' | 'workspace_id' | 'workflow_id' | 'trigger' | 'created_at' | 'started_at'>;
/** The columns of `Head`, for statements written as text. */
export const HEAD_COLUMNS = 'id, status, workspace_id, workflow_id, "trigger", created_at, started_at';

/** What an execution event says about the run at `h`, and how it ended if it did (one literal: see settle.ts on spreads). */
export const headFacts = (h: Head, end?: Pick<ExecutionFacts, 'finishedAt' | 'errCode' | 'errMsg'>): ExecutionFacts => ({
  executionId: h.id,
  workspaceId: h.workspace_id,
  canvasId: h.workflow_id,
  trigger: h.trigger,
  createdAt: Number(h.created_at),
  startedAt: h.started_at === null ? undefined : Number(h.started_at),
  finishedAt: end?.finishedAt,
  errCode: end?.errCode,
  errMsg: end?.errMsg,
});
