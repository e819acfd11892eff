import type { ValidateFunction } from 'ajv';
import { fail, ok, type Result } from '../errors.ts';
import { ajv } from './ajv.ts';
import type { VariableDef, WorkflowDefinition } from './definition.ts';

/**
 * A workflow's input contract: its variables as a JSON Schema (served at `…/{canvasId}/schema` and
 * in the workflow's OpenAPI document) and the check every run goes through before it is accepted.
 * Refly declares these fields but does not enforce them; Flowgate does.
 */
const FILE_KEY = { type: 'string', pattern: '^fk-[A-Za-z0-9_-]{1,64}$', description: 'fileKey from POST /v1/openapi/files/upload' };

function variableSchema(v: VariableDef): Record<string, unknown> {
  const base: Record<string, unknown> = {};
  switch (v.variableType) {
    case 'string':
      base.type = 'string';
      break;
    case 'option':
      base.type = 'string';
      base.enum = v.options ?? [];
      break;
    case 'number':
      base.type = 'number';
      break;
    case 'boolean':
      base.type = 'boolean';
      break;
    case 'json':
      break;
    case 'resource':
      base.anyOf = [FILE_KEY, { type: 'array', items: FILE_KEY, maxItems: 100 }];
      break;
    default: {
      const never: never = v.variableType;
      throw new Error(`unknown variable type ${String(never)}`);
    }
  }
  if (v.description) base.description = v.description;
  if (v.default !== undefined) base.default = v.default;
  base['x-variableType'] = v.variableType;
  return base;
}

export function variablesJsonSchema(def: Pick<WorkflowDefinition, 'variables'>): Record<string, unknown> {
  const vars = def.variables ?? [];
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    type: 'object',
    properties: Object.fromEntries(vars.map((v) => [v.name, variableSchema(v)])),
    required: vars.filter((v) => v.required && v.default === undefined).map((v) => v.name),
    additionalProperties: false,
  };
}

// Definitions are read fresh from the store per request, so compiled validators are cached by the
// variables' text rather than by object identity.
const compiled = new Map<string, ValidateFunction>();
const COMPILED_MAX = 500;

function validatorFor(vars: VariableDef[]): ValidateFunction {
  const key = JSON.stringify(vars);
  let v = compiled.get(key);
  if (!v) {
    const { $schema: _drop, ...schema } = variablesJsonSchema({ variables: vars });
    v = ajv.compile(schema);
    if (compiled.size >= COMPILED_MAX) compiled.delete(compiled.keys().next().value as string);
    compiled.set(key, v);
  }
  return v;
}

export interface VariableError {
  field: string;
  code: 'required' | 'unknown' | 'type' | 'enum' | 'format' | 'invalid';
  message: string;
}

/** Applies defaults and checks the run's variables; one error per bad field. */
export function validateVariables(def: Pick<WorkflowDefinition, 'variables'>, input: unknown): Result<Record<string, unknown>> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return fail('INVALID_VARIABLES', 'variables must be a JSON object', { errors: [{ field: 'variables', code: 'type', message: 'must be an object' }] });
  }
  const vars = def.variables ?? [];
  const values: Record<string, unknown> = { ...(input as Record<string, unknown>) };
  for (const v of vars) if (values[v.name] === undefined && v.default !== undefined) values[v.name] = structuredClone(v.default);
  for (const v of vars) if (v.variableType === 'resource' && values[v.name] !== undefined) values[v.name] = fileKeysOf(values[v.name]);
  const check = validatorFor(vars);
  if (check(values)) return ok(values);

  const byField = new Map<string, VariableError>();
  for (const e of check.errors ?? []) {
    let name = e.instancePath.split('/')[1] ?? '';
    let code: VariableError['code'] = 'invalid';
    let message = e.message ?? 'is invalid';
    if (e.keyword === 'required') {
      name = (e.params as { missingProperty: string }).missingProperty;
      code = 'required';
      message = 'is required';
    } else if (e.keyword === 'additionalProperties') {
      name = (e.params as { additionalProperty: string }).additionalProperty;
      code = 'unknown';
      message = 'is not a variable of this workflow';
    } else if (e.keyword === 'type') {
      code = 'type';
      message = `must be ${(e.params as { type: string }).type}`;
    } else if (e.keyword === 'enum') {
      code = 'enum';
      message = `must be one of ${JSON.stringify((e.params as { allowedValues: unknown[] }).allowedValues)}`;
    } else if (e.keyword === 'pattern' || e.keyword === 'anyOf') {
      code = 'format';
      message = 'must be a fileKey (fk-…) or an array of fileKeys';
    }
    const field = `variables.${name}`;
    if (!byField.has(field)) byField.set(field, { field, code, message });
  }
  const errors = [...byField.values()];
  return fail('INVALID_VARIABLES', `Invalid variables: ${errors.map((e) => `${e.field} ${e.message}`).join('; ')}`, { errors });
}

/**
 * A resource variable names files as Refly's clients send them: a fileKey, an array of fileKeys, or
 * objects in the form Refly's own example uses (`{type: "resource", resourceId}`) or `{fileKey}`. The
 * objects become their key; anything else is left for validation to refuse.
 */
function fileKeysOf(value: unknown): unknown {
  const one = (x: unknown): unknown => {
    if (typeof x !== 'object' || x === null || Array.isArray(x)) return x;
    const o = x as { fileKey?: unknown; resourceId?: unknown };
    return typeof o.fileKey === 'string' ? o.fileKey : typeof o.resourceId === 'string' ? o.resourceId : x;
  };
  return Array.isArray(value) ? value.map(one) : one(value);
}

/** The fileKeys a run's `resource` variables name; the caller checks they exist in the workspace. */
export function resourceFileKeys(def: Pick<WorkflowDefinition, 'variables'>, variables: Record<string, unknown>): { variable: string; fileKey: string }[] {
  const out: { variable: string; fileKey: string }[] = [];
  for (const v of def.variables ?? []) {
    if (v.variableType !== 'resource') continue;
    const value = variables[v.name];
    for (const k of Array.isArray(value) ? value : value === undefined ? [] : [value]) out.push({ variable: v.name, fileKey: String(k) });
  }
  return out;
}
