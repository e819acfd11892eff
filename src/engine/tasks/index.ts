import { coerceError } from '../../errors.ts';
import { runAgent } from './agent.ts';
import { runCondition, runOutput, runTransform } from './expressionTasks.ts';
import { runHttp } from './http.ts';
import type { TaskInput, TaskOutcome } from './types.ts';

/** Runs one attempt of any task kind. Never throws: a bug in a runner becomes a failed attempt. */
export async function runTask(input: TaskInput): Promise<TaskOutcome> {
  try {
    const { task } = input;
    switch (task.kind) {
      case 'transform':
        return await runTransform({ ...input, task });
      case 'condition':
        return await runCondition({ ...input, task });
      case 'output':
        return await runOutput({ ...input, task });
      case 'http':
        return await runHttp({ ...input, task });
      case 'agent':
        return await runAgent({ ...input, task });
      default: {
        const never: never = task;
        return { type: 'failed', errCode: 'INTERNAL_ERROR', message: `unknown task kind in ${JSON.stringify(never)}`, retryable: false };
      }
    }
  } catch (e) {
    return { type: 'failed', errCode: 'INTERNAL_ERROR', message: `task runner failed: ${coerceError(e).message}`, retryable: false };
  }
}
