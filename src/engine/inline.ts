import type { Config } from '../config.ts';
import type { TaskDef, WorkflowDefinition } from '../workflows/definition.ts';
import { runTask } from './tasks/index.ts';
import type { EvalContext, TaskInput, TaskOutcome } from './tasks/types.ts';

/** Tasks that only evaluate expressions over the context: no side effects, so they may run on the spot. */
const INLINE_KINDS = new Set(['transform', 'condition', 'output']);
/** `$fileText` reads the store and the disk: not from inside a transaction or an accept. Once per task. */
const filesRead = new WeakMap<object, boolean>();
const readsFiles = (task: object) => {
  let r = filesRead.get(task);
  if (r === undefined) filesRead.set(task, (r = JSON.stringify(task).includes('fileText')));
  return r;
};
const NEVER_ABORTED = new AbortController().signal;

/** Whether `task` can be evaluated where it is claimed or accepted, without I/O. */
export const evaluatesInline = (task: TaskDef): boolean => INLINE_KINDS.has(task.kind) && !readsFiles(task);

/** Settles a node for good: it finished, or failed in a way another attempt cannot change. */
export type InlineOutcome = Extract<TaskOutcome, { type: 'finished' }> | (Extract<TaskOutcome, { type: 'failed' }> & { retryable: false });

/**
 * Evaluates a transform, condition or output task on the spot — inside the worker turn that claimed
 * it, or inside the accept of its run — when its outcome settles the node. Undefined when the task
 * is not of that kind, or its outcome would not settle it (a retryable failure): it then runs the
 * usual way, through the queue.
 */
export async function evaluateInline(
  task: TaskDef,
  workflow: WorkflowDefinition,
  context: EvalContext,
  executionId: string,
  attempt: number,
  config: Config,
  run: (input: TaskInput) => Promise<TaskOutcome> = runTask,
): Promise<InlineOutcome | undefined> {
  if (!evaluatesInline(task)) return undefined;
  const outcome = await run({ task, workflow, context, executionId, attempt, signal: NEVER_ABORTED, config });
  if (outcome.type === 'finished') return outcome;
  if (outcome.type === 'failed' && !outcome.retryable) return { ...outcome, retryable: false };
  return undefined;
}
