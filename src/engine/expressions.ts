import jsonata from 'jsonata';
import type { EvalContext } from './tasks/types.ts';

/**
 * JSONata is the one expression language (docs/workflows.md). Expressions are
 * compiled once and cached by source text: a workflow's expressions are few and run many times.
 */
type Compiled = ReturnType<typeof jsonata>;
const cache = new Map<string, Compiled>();
const CACHE_MAX = 5_000;

export function compile(expr: string): Compiled {
  let c = cache.get(expr);
  if (!c) {
    c = jsonata(expr);
    if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value as string);
    cache.set(expr, c);
  }
  return c;
}

/** Returns the parse error message, or undefined when `expr` is valid JSONata. */
export function parseError(expr: string): string | undefined {
  try {
    compile(expr);
    return undefined;
  } catch (e) {
    const err = e as { message?: string; position?: number };
    return `${err.message ?? String(e)}${err.position !== undefined ? ` (at ${err.position})` : ''}`;
  }
}

export interface EvalOptions {
  /** Values visible as `$env.NAME` (only the names allowed by FLOWGATE_TEMPLATE_ENV). */
  env?: Readonly<Record<string, string>>;
  /** Functions visible as `$name(...)`, e.g. `$fileText`; they may return promises. */
  functions?: Record<string, (...args: any[]) => unknown>;
}

export async function evaluate(expr: string, input: unknown, opts: EvalOptions = {}): Promise<unknown> {
  const compiled = compile(expr);
  const path = fieldPath(expr, compiled);
  if (path) {
    const v = readPath(input, path);
    if (v !== NOT_PLAIN) return v === undefined ? null : v;
  }
  const result = await compiled.evaluate(input, { ...opts.functions, env: opts.env ?? {} });
  return normalise(result);
}

/**
 * Most templates name one value — `{{ variables.email }}`, `{{ tasks.fetch.output.body }}` — and
 * JSONata's evaluator allocates frames, sequences and promises for each (about a sixth of what an
 * accept of a one-output workflow allocated). Such a path over plain objects is read directly; it gives
 * what JSONata gives there (a missing field is `null`). Anything else — arrays on the way or at the
 * end, which JSONata maps over and flattens, strings, functions, operators — is left to JSONata.
 */
const paths = new Map<string, string[] | null>();
const NOT_PLAIN = Symbol('not a plain object path');

/** The field names of `expr` when JSONata parses it as a bare path of names (no filters, arrays, variables). */
function fieldPath(expr: string, compiled: Compiled): string[] | null {
  let p = paths.get(expr);
  if (p === undefined) {
    const ast = compiled.ast() as { type?: string; steps?: Record<string, unknown>[] } & Record<string, unknown>;
    const bare = ast.type === 'path' && Object.keys(ast).length === 2 && Array.isArray(ast.steps);
    const names = bare && ast.steps!.every((s) => s.type === 'name' && typeof s.value === 'string' && Object.keys(s).every((k) => k === 'type' || k === 'value' || k === 'position'));
    p = names ? ast.steps!.map((s) => s.value as string) : null;
    if (paths.size >= CACHE_MAX) paths.clear();
    paths.set(expr, p);
  }
  return p;
}

const isPlain = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;

function readPath(input: unknown, path: readonly string[]): unknown {
  let at = input;
  for (const name of path) {
    if (!isPlain(at)) return NOT_PLAIN;
    at = Object.hasOwn(at, name) ? at[name] : undefined;
    if (at === undefined) return undefined;
  }
  if (typeof at === 'object' && at !== null && !isPlain(at)) return NOT_PLAIN;
  if (typeof at === 'number' && !Number.isFinite(at)) return NOT_PLAIN;
  if (typeof at === 'function') return NOT_PLAIN;
  return at;
}

/**
 * JSONata returns sequences as arrays tagged with a `sequence` flag and `undefined` for no match;
 * JSON round-tripping gives plain values that store and compare cleanly.
 */
function normalise(v: unknown): unknown {
  if (v === undefined) return null;
  if (typeof v === 'function') return null;
  return JSON.parse(JSON.stringify(v) ?? 'null');
}

const TEMPLATE = /\{\{([\s\S]+?)\}\}/g;
const WHOLE_TEMPLATE = /^\s*\{\{([\s\S]+?)\}\}\s*$/;

/** The JSONata sources embedded in a template string, in order. */
export function templateExpressions(s: string): string[] {
  return [...s.matchAll(TEMPLATE)].map((m) => m[1]!.trim());
}

/** Every template expression inside any JSON value (object keys are not templated). */
export function collectTemplateExpressions(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(...templateExpressions(value));
  else if (Array.isArray(value)) for (const v of value) collectTemplateExpressions(v, out);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) collectTemplateExpressions(v, out);
  return out;
}

/**
 * Renders one template string: exactly one `{{ … }}` yields the raw value; otherwise each result is
 * interpolated as text (objects as JSON, null/undefined as empty).
 */
export async function renderString(s: string, input: unknown, opts: EvalOptions = {}): Promise<unknown> {
  const t = parsedTemplate(s);
  if (typeof t === 'string') return t;
  if (t.whole !== undefined) return evaluate(t.whole, input, opts);
  let out = '';
  for (const part of t.parts) out += typeof part === 'string' ? part : toText(await evaluate(part.expr, input, opts));
  return out;
}

/**
 * A template split once: the text itself, one whole expression, or text and expressions in turn.
 * Templates come from workflow definitions, so the same few strings render again and again; long
 * ones (prompts) are split each time rather than kept.
 */
type Template = string | { whole?: string; parts: (string | { expr: string })[] };
const templates = new Map<string, Template>();
const CACHED_TEMPLATE_MAX = 4096;

function parsedTemplate(s: string): Template {
  let t = templates.get(s);
  if (t === undefined) {
    const whole = WHOLE_TEMPLATE.exec(s);
    if (whole && templateExpressions(s).length === 1) t = { whole: whole[1]!.trim(), parts: [] };
    else if (!s.includes('{{')) t = s;
    else {
      const parts: (string | { expr: string })[] = [];
      let last = 0;
      for (const m of s.matchAll(TEMPLATE)) {
        parts.push(s.slice(last, m.index), { expr: m[1]!.trim() });
        last = m.index! + m[0].length;
      }
      parts.push(s.slice(last));
      t = { parts };
    }
    if (s.length <= CACHED_TEMPLATE_MAX) {
      if (templates.size >= CACHE_MAX) templates.clear();
      templates.set(s, t);
    }
  }
  return t;
}

export function toText(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

/** Renders every string inside a JSON value as a template. */
export async function renderValue(value: unknown, input: unknown, opts: EvalOptions = {}): Promise<unknown> {
  if (typeof value === 'string') return renderString(value, input, opts);
  if (Array.isArray(value)) return Promise.all(value.map((v) => renderValue(v, input, opts)));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = await renderValue(v, input, opts);
    return out;
  }
  return value;
}

/** Renders a template string and always returns text (URLs, header values, prompts). */
export async function renderText(s: string, input: unknown, opts: EvalOptions = {}): Promise<string> {
  return toText(await renderString(s, input, opts));
}

export interface References {
  variables: Set<string>;
  tasks: Set<string>;
  /** `$env.NAME` reads. */
  env: Set<string>;
}

/**
 * The context roots an expression reads: `variables.X`, `tasks.Y`, `$env.Z`. Used on save to
 * check that templates only reference declared variables and upstream tasks.
 */
export function references(expr: string): References {
  const refs: References = { variables: new Set(), tasks: new Set(), env: new Set() };
  walk(compile(expr).ast(), refs);
  return refs;
}

type Node = { type?: string; value?: unknown; steps?: Node[]; [k: string]: unknown };

function walk(node: unknown, refs: References): void {
  if (!node || typeof node !== 'object') return;
  if (Array.isArray(node)) {
    for (const n of node) walk(n, refs);
    return;
  }
  const n = node as Node;
  if (n.type === 'path' && Array.isArray(n.steps) && n.steps.length >= 2) {
    const [root, second] = n.steps;
    if (root?.type === 'name' && second?.type === 'name') {
      if (root.value === 'variables') refs.variables.add(String(second.value));
      if (root.value === 'tasks') refs.tasks.add(String(second.value));
    }
    if (root?.type === 'variable' && root.value === 'env' && second?.type === 'name') refs.env.add(String(second.value));
  }
  for (const [k, v] of Object.entries(n)) if (k !== 'value' || typeof v === 'object') walk(v, refs);
}

export type { EvalContext };
