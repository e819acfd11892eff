import { coerceError } from '../../errors.ts';
import type { ConditionTask, OutputTask, TransformTask } from '../../workflows/definition.ts';
import { evaluate, renderValue } from '../expressions.ts';
import { evalOptions } from './evalOptions.ts';
import type { TaskInput, TaskOutcome } from './types.ts';

/** The three tasks that only evaluate JSONata over the context: no I/O, so never retryable. */
const expressionFailed = (e: unknown, what: string): TaskOutcome => ({
  type: 'failed',
  errCode: 'EXPRESSION_ERROR',
  message: `${what}: ${coerceError(e).message}`,
  retryable: false,
});

export async function runTransform(input: TaskInput<TransformTask>): Promise<TaskOutcome> {
  try {
    return { type: 'finished', output: await evaluate(input.task.expression, input.context, evalOptions(input)) };
  } catch (e) {
    return expressionFailed(e, 'expression failed');
  }
}

/** JSONata truthiness: empty string, 0, null, false and empty arrays are false. */
function truthy(v: unknown): boolean {
  if (Array.isArray(v)) return v.some(truthy);
  return Boolean(v);
}

export async function runCondition(input: TaskInput<ConditionTask>): Promise<TaskOutcome> {
  try {
    return { type: 'finished', output: truthy(await evaluate(input.task.expression, input.context, evalOptions(input))) };
  } catch (e) {
    return expressionFailed(e, 'condition failed');
  }
}

export async function runOutput(input: TaskInput<OutputTask>): Promise<TaskOutcome> {
  const { task, context } = input;
  if (task.value === undefined) {
    const collected = Object.fromEntries((task.dependentTasks ?? []).map((d) => [d, context.tasks[d]?.output ?? null]));
    return { type: 'finished', output: collected };
  }
  try {
    return { type: 'finished', output: await renderValue(task.value, context, evalOptions(input)) };
  } catch (e) {
    return expressionFailed(e, 'output value failed');
  }
}
