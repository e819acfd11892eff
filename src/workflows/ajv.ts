import { Ajv, type ErrorObject } from 'ajv';
import addFormats from 'ajv-formats';

/** One Ajv instance for definitions and variables: all errors, so a user fixes everything in one round. */
export const ajv = new Ajv({ allErrors: true, strict: false, useDefaults: false });
(addFormats as unknown as (a: Ajv) => void)(ajv);

/** `/tasks/2/expression` → `tasks[2].expression`. */
export function fieldPath(instancePath: string, prefix = ''): string {
  const parts = instancePath.split('/').filter(Boolean);
  let out = prefix;
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : `${out ? '.' : ''}${p}`;
  return out;
}

export function describeAjvError(e: ErrorObject): { field: string; message: string } {
  const base = e.instancePath;
  if (e.keyword === 'additionalProperties') {
    const extra = (e.params as { additionalProperty: string }).additionalProperty;
    return { field: fieldPath(`${base}/${extra}`), message: 'is not allowed here' };
  }
  if (e.keyword === 'required') {
    const missing = (e.params as { missingProperty: string }).missingProperty;
    return { field: fieldPath(`${base}/${missing}`), message: 'is required' };
  }
  return { field: fieldPath(base) || '(root)', message: e.message ?? 'is invalid' };
}
