import type { ValidateFunction } from 'ajv';
import { ajv, describeAjvError } from '../../workflows/ajv.ts';

/** An `http` task's `expect`: the response body must match this JSON Schema. */
const compiled = new Map<string, ValidateFunction>();

/** Undefined when the body matches; otherwise what is missing or changed, field by field. */
export function contractViolation(expect: Record<string, unknown>, body: unknown): string | undefined {
  const key = JSON.stringify(expect);
  let check = compiled.get(key);
  if (!check) {
    check = ajv.compile(expect);
    if (compiled.size > 500) compiled.delete(compiled.keys().next().value as string);
    compiled.set(key, check);
  }
  if (check(body)) return undefined;
  return (check.errors ?? [])
    .map((e) => {
      const d = describeAjvError(e);
      return `${d.field === '(root)' ? 'body' : `body.${d.field}`} ${d.message}`;
    })
    .join('; ');
}
