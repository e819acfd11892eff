import { Type } from 'typebox';
import { fail, ok, type Result } from '../errors.ts';
import { collectTemplateExpressions, parseError, references } from '../engine/expressions.ts';
import { ajv, describeAjvErrors } from './ajv.ts';
import type { TaskDef, VariableDef, WorkflowDefinition } from './definition.ts';
import { TaskSchema, WorkflowDefinitionSchema } from './schema.ts';
import { TASK_KINDS } from './definition.ts';

/** One problem in a definition, naming where it is so the author can go straight to it. */
export interface DefinitionError {
  task?: string;
  variable?: string;
  field: string;
  message: string;
}

// Tasks are first checked only for `id` and `kind`, then each against its own kind's schema, so an
// error reads "tasks[2].expression is required" instead of one failure per member of the union.
const shell = ajv.compile(
  Type.Object({
    ...WorkflowDefinitionSchema.properties,
    tasks: Type.Array(
      Type.Object({ id: Type.String(), kind: Type.Union(TASK_KINDS.map((k) => Type.Literal(k))) }, { additionalProperties: true }),
      { minItems: 1, maxItems: 200 },
    ),
  }, { additionalProperties: false }),
);
const byKind = Object.fromEntries(TaskSchema.anyOf.map((s) => [(s.properties.kind as { const: string }).const, ajv.compile(s)]));

function schemaErrors(input: unknown): DefinitionError[] {
  if (!shell(input)) return describeAjvErrors(shell.errors ?? []);
  const errors: DefinitionError[] = [];
  (input as { tasks: { id: string; kind: string }[] }).tasks.forEach((t, i) => {
    const check = byKind[t.kind]!;
    if (!check(t)) {
      for (const d of describeAjvErrors(check.errors ?? [])) {
        errors.push({ task: t.id, field: `tasks[${i}]${d.field === '(root)' ? '' : `.${d.field}`}`, message: d.message });
      }
    }
  });
  return errors;
}

/** Every task `id` depends on, directly or through others. */
export function ancestors(def: Pick<WorkflowDefinition, 'tasks'>, id: string): Set<string> {
  const deps = new Map(def.tasks.map((t) => [t.id, t.dependentTasks ?? []]));
  const seen = new Set<string>();
  const stack = [...(deps.get(id) ?? [])];
  while (stack.length) {
    const d = stack.pop()!;
    if (seen.has(d)) continue;
    seen.add(d);
    stack.push(...(deps.get(d) ?? []));
  }
  return seen;
}

/** Task ids in dependency order, or the ids of one cycle when there is one. */
export function topologicalOrder(def: Pick<WorkflowDefinition, 'tasks'>): { order: string[] } | { cycle: string[] } {
  const deps = new Map(def.tasks.map((t) => [t.id, (t.dependentTasks ?? []).filter((d) => d !== t.id)]));
  const state = new Map<string, 'visiting' | 'done'>();
  const order: string[] = [];
  const path: string[] = [];
  const visit = (id: string): string[] | undefined => {
    if (state.get(id) === 'done' || !deps.has(id)) return undefined;
    if (state.get(id) === 'visiting') return [...path.slice(path.indexOf(id)), id];
    state.set(id, 'visiting');
    path.push(id);
    for (const d of deps.get(id)!) {
      const cycle = visit(d);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(id, 'done');
    order.push(id);
    return undefined;
  };
  for (const t of def.tasks) {
    const cycle = visit(t.id);
    if (cycle) return { cycle };
  }
  return { order };
}

const TYPE_CHECK: Record<VariableDef['variableType'], (v: unknown, def: VariableDef) => boolean> = {
  string: (v) => typeof v === 'string',
  option: (v, d) => typeof v === 'string' && (d.options ?? []).includes(v),
  resource: (v) => typeof v === 'string' || (Array.isArray(v) && v.every((x) => typeof x === 'string')),
  number: (v) => typeof v === 'number' && Number.isFinite(v),
  boolean: (v) => typeof v === 'boolean',
  json: () => true,
};

function variableErrors(vars: VariableDef[]): DefinitionError[] {
  const errors: DefinitionError[] = [];
  const seen = new Set<string>();
  vars.forEach((v, i) => {
    const at = (field: string, message: string) => errors.push({ variable: v.name, field: `variables[${i}].${field}`, message });
    if (seen.has(v.name)) at('name', `duplicate variable name "${v.name}"`);
    seen.add(v.name);
    if (v.variableType === 'option' && !(v.options && v.options.length > 0)) at('options', 'an option variable needs a non-empty options list');
    if (v.variableType !== 'option' && v.options) at('options', 'options apply only to option variables');
    if (v.default !== undefined && !TYPE_CHECK[v.variableType](v.default, v)) {
      at('default', v.variableType === 'option' ? 'default must be one of options' : `default must be a ${v.variableType}`);
    }
  });
  return errors;
}

/** The templated or expression fields of a task, with their field paths. */
function expressionsOf(t: TaskDef, i: number): { field: string; exprs: string[] }[] {
  const at = (f: string) => `tasks[${i}].${f}`;
  switch (t.kind) {
    case 'transform':
    case 'condition':
      return [{ field: at('expression'), exprs: [t.expression] }];
    case 'agent':
      return [
        { field: at('prompt'), exprs: collectTemplateExpressions(t.prompt) },
        { field: at('systemPrompt'), exprs: collectTemplateExpressions(t.systemPrompt ?? '') },
      ];
    case 'http':
      return [
        { field: at('request.url'), exprs: collectTemplateExpressions(t.request.url) },
        { field: at('request.headers'), exprs: collectTemplateExpressions(t.request.headers ?? {}) },
        { field: at('request.query'), exprs: collectTemplateExpressions(t.request.query ?? {}) },
        { field: at('request.body'), exprs: collectTemplateExpressions(t.request.body ?? null) },
        { field: at('request.bodyFile'), exprs: collectTemplateExpressions(t.request.bodyFile ?? null) },
        { field: at('request.multipart'), exprs: collectTemplateExpressions(t.request.multipart ?? {}) },
      ];
    case 'output':
      return [{ field: at('value'), exprs: collectTemplateExpressions(t.value ?? null) }];
    default: {
      const never: never = t;
      throw new Error(`unknown task ${JSON.stringify(never)}`);
    }
  }
}

/** Parses each expression and checks it reads only declared variables and the given tasks. */
function referenceErrors(
  where: { task?: string; field: string },
  exprs: string[],
  variables: Set<string>,
  upstream: Set<string> | undefined,
  allTasks: Set<string>,
): DefinitionError[] {
  const errors: DefinitionError[] = [];
  for (const expr of exprs) {
    const err = parseError(expr);
    if (err) {
      errors.push({ ...where, message: `expression "${expr}" does not parse: ${err}` });
      continue;
    }
    const refs = references(expr);
    for (const v of refs.variables) if (!variables.has(v)) errors.push({ ...where, message: `"${expr}" reads variables.${v}, which is not declared` });
    if (!upstream) continue;
    for (const id of refs.tasks) {
      if (!allTasks.has(id)) errors.push({ ...where, message: `"${expr}" reads tasks.${id}, which does not exist` });
      else if (!upstream.has(id)) errors.push({ ...where, message: `"${expr}" reads tasks.${id}, which is not upstream: add it to dependentTasks` });
    }
  }
  return errors;
}

function semanticErrors(def: WorkflowDefinition): DefinitionError[] {
  const errors = variableErrors(def.variables ?? []);
  const ids = new Set<string>();
  def.tasks.forEach((t, i) => {
    if (ids.has(t.id)) errors.push({ task: t.id, field: `tasks[${i}].id`, message: `duplicate task id "${t.id}"` });
    ids.add(t.id);
  });
  def.tasks.forEach((t, i) => {
    for (const d of t.dependentTasks ?? []) {
      if (d === t.id) errors.push({ task: t.id, field: `tasks[${i}].dependentTasks`, message: 'a task cannot depend on itself' });
      else if (!def.tasks.some((x) => x.id === d)) errors.push({ task: t.id, field: `tasks[${i}].dependentTasks`, message: `unknown task "${d}"` });
    }
  });
  const topo = topologicalOrder(def);
  if ('cycle' in topo) {
    const first = topo.cycle[0]!;
    errors.push({ task: first, field: `tasks[${def.tasks.findIndex((t) => t.id === first)}].dependentTasks`, message: `dependency cycle: ${topo.cycle.join(' → ')}` });
    return errors;
  }
  const variables = new Set((def.variables ?? []).map((v) => v.name));
  const tools = new Set((def.tools ?? []).map((t) => t.name));
  def.tasks.forEach((t, i) => {
    const upstream = ancestors(def, t.id);
    for (const { field, exprs } of expressionsOf(t, i)) errors.push(...referenceErrors({ task: t.id, field }, exprs, variables, upstream, ids));
    if (t.kind === 'agent') {
      for (const name of t.toolsets ?? []) {
        if (!tools.has(name)) errors.push({ task: t.id, field: `tasks[${i}].toolsets`, message: `unknown tool "${name}": declare it under tools` });
      }
    }
  });
  (def.tools ?? []).forEach((tool, i) => {
    const exprs = collectTemplateExpressions(tool.request);
    // Tools run inside an agent task, whose upstream varies; only variables are checked statically.
    errors.push(...referenceErrors({ field: `tools[${i}].request` }, exprs, variables, undefined, ids));
  });
  return errors;
}

/** Validates a definition on save: schema first, then ids, dependencies, cycles and references. */
export function validateDefinition(input: unknown): Result<WorkflowDefinition> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return fail('INVALID_WORKFLOW', 'A workflow definition must be a JSON or YAML object', { errors: [{ field: '(root)', message: 'must be an object' }] });
  }
  const shape = schemaErrors(input);
  const errors = shape.length ? shape : semanticErrors(input as WorkflowDefinition);
  if (errors.length === 0) return ok(input as WorkflowDefinition);
  const first = errors[0]!;
  const summary = `${errors.length} problem${errors.length > 1 ? 's' : ''} in the definition; first: ${first.field} ${first.message}`;
  return fail('INVALID_WORKFLOW', summary, { errors });
}
