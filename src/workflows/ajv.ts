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

/**
 * Ajv's errors as one per field: a union of constants (task `kind`, `variableType`) fails once per
 * member plus once for the union; those become one "must be one of …" listing the allowed values.
 */
export function describeAjvErrors(errors: readonly ErrorObject[]): { field: string; message: string }[] {
  const constsAt = new Map<string, unknown[]>();
  for (const e of errors) if (e.keyword === 'const') constsAt.set(e.instancePath, [...(constsAt.get(e.instancePath) ?? []), (e.params as { allowedValue: unknown }).allowedValue]);
  const out: { field: string; message: string }[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    const consts = constsAt.get(e.instancePath);
    if (consts && consts.length > 1 && (e.keyword === 'const' || e.keyword === 'anyOf')) {
      if (seen.has(e.instancePath)) continue;
      seen.add(e.instancePath);
      out.push({ field: fieldPath(e.instancePath) || '(root)', message: `must be one of ${consts.map((c) => JSON.stringify(c)).join(', ')}` });
      continue;
    }
    out.push(describeAjvError(e));
  }
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
  if (e.keyword === 'enum') {
    const allowed = (e.params as { allowedValues: unknown[] }).allowedValues;
    return { field: fieldPath(base) || '(root)', message: `must be one of ${allowed.map((c) => JSON.stringify(c)).join(', ')}` };
  }
  return { field: fieldPath(base) || '(root)', message: e.message ?? 'is invalid' };
}
