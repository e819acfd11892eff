import type { EvalOptions } from '../expressions.ts';
import type { TaskInput } from './types.ts';

/** What templates and expressions of a task can reach besides the context: `$env` and `$fileText`. */
export function evalOptions(input: Pick<TaskInput, 'config' | 'files'>): EvalOptions {
  const files = input.files;
  return {
    env: input.config.templateEnv,
    functions: files ? { fileText: (ref: unknown) => files.text(ref) } : {},
  };
}
