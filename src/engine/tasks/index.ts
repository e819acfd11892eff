import { coerceError } from '../../errors.ts';
import { runAgent } from './agent.ts';
import { runCondition, runOutput, runTransform } from './expressionTasks.ts';
import { runHttp } from './http.ts';
import type { TaskInput, TaskOutcome } from './types.ts';
import type { TaskDef } from '../../workflows/definition.ts';

/**
 * `input`, typed by its own task once the switch has narrowed it (`task` is `input.task`). Not a
 * copy: every attempt passes through here, and `{ ...input, task }` cost one.
 */
const narrowed = <T extends TaskDef>(input: TaskInput, _task: T): TaskInput<T> => input as TaskInput<T>;

/** Runs one attempt of any task kind. Never throws: a bug in a runner becomes a failed attempt. */
export async function runTask(input: TaskInput): Promise<TaskOutcome> {
  try {
    const { task } = input;
    switch (task.kind) {
      case 'transform':
        return await runTransform(narrowed(input, task));
      case 'condition':
        return await runCondition(narrowed(input, task));
      case 'output':
        return await runOutput(narrowed(input, task));
      case 'http':
        return await runHttp(narrowed(input, task));
      case 'agent':
        return await runAgent(narrowed(input, task));
      default: {
        const never: never = task;
        return { type: 'failed', errCode: 'INTERNAL_ERROR', message: `unknown task kind in ${JSON.stringify(never)}`, retryable: false };
      }
    }
  } catch (e) {
    return { type: 'failed', errCode: 'INTERNAL_ERROR', message: `task runner failed: ${coerceError(e).message}`, retryable: false };
  }
}
