/**
 * The shape of a workflow definition. These are the types the rest of
 * the code reads; `schema.ts` holds the TypeBox schema that accepts them over HTTP and from files.
 */
export type VariableType = 'string' | 'option' | 'resource' | 'number' | 'boolean' | 'json';
export const VARIABLE_TYPES: readonly VariableType[] = ['string', 'option', 'resource', 'number', 'boolean', 'json'];

export interface VariableDef {
  name: string;
  variableType: VariableType;
  required?: boolean;
  options?: string[];
  default?: unknown;
  description?: string;
}

export interface RetryPolicy {
  maxAttempts?: number;
  initialDelayMs?: number;
  factor?: number;
  maxDelayMs?: number;
}

interface TaskBase {
  id: string;
  title?: string;
  dependentTasks?: string[];
  retry?: RetryPolicy;
  timeoutMs?: number;
}

export interface HttpRequestDef {
  method?: string;
  url: string;
  headers?: Record<string, string>;
  query?: Record<string, string>;
  /** Any JSON; strings inside are templates. */
  body?: unknown;
  /** Template yielding a file (a resource variable or fileKey): its bytes are the body. */
  bodyFile?: string;
  /** Multipart form fields; a value that yields a file is sent as a file part. */
  multipart?: Record<string, string>;
}

export interface AgentTask extends TaskBase {
  kind: 'agent';
  prompt: string;
  systemPrompt?: string;
  /** Names of the workflow's `tools` the model may call. */
  toolsets?: string[];
  model?: string;
  maxSteps?: number;
}
export interface HttpTask extends TaskBase {
  kind: 'http';
  request: HttpRequestDef;
  /** JSON Schema of the response body; a violation fails the node, not retried. */
  expect?: Record<string, unknown>;
  /** `file`: store the response body as an output file; the output's body is then `{ file }`. */
  saveAs?: 'file';
}
export interface TransformTask extends TaskBase {
  kind: 'transform';
  expression: string;
}
export interface ConditionTask extends TaskBase {
  kind: 'condition';
  expression: string;
}
export interface OutputTask extends TaskBase {
  kind: 'output';
  /** Any JSON; strings inside are templates. Without it, the output is `{ <dep>: output }`. */
  value?: unknown;
}

export type TaskDef = AgentTask | HttpTask | TransformTask | ConditionTask | OutputTask;
export type TaskKind = TaskDef['kind'];
export const TASK_KINDS: readonly TaskKind[] = ['agent', 'http', 'transform', 'condition', 'output'];

/** A tool an `agent` task may call: an HTTP request whose templates also see `args`. */
export interface ToolDef {
  name: string;
  description?: string;
  /** JSON Schema of the arguments the model must pass. */
  parameters?: Record<string, unknown>;
  request: HttpRequestDef;
}

export interface WorkflowDefinition {
  /** Optional fixed id, used when loading from files so a reload updates the same workflow. */
  canvasId?: string;
  title: string;
  description?: string;
  variables?: VariableDef[];
  tasks: TaskDef[];
  tools?: ToolDef[];
  /** Default retry policy of every task; a task's own `retry` overrides it field by field. */
  retry?: RetryPolicy;
  /** Execution deadline; default 1 h. */
  timeoutMs?: number;
  /** When false, API runs answer WORKFLOW_API_DISABLED. */
  apiEnabled?: boolean;
}
