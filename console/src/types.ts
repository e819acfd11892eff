// The shapes the console reads, as docs/api.md describes them (only the fields it uses).

export type Scope = 'run' | 'read' | 'admin';
export type ExecStatus = 'init' | 'executing' | 'finish' | 'failed';

export interface CurrentKey {
  id: string;
  name: string;
  prefix: string;
  scopes: Scope[];
  workspaceId: string;
}

export interface ExecutionSummary {
  executionId: string;
  canvasId: string;
  version?: number;
  status: ExecStatus;
  trigger: string;
  createdAt: string;
  startedAt?: string | null;
  finishedAt?: string | null;
  errCode?: string | null;
  errMsg?: string | null;
}

export interface Page<T> {
  records: T[];
  nextCursor: string | null;
}

export interface Attempt {
  attempt: number;
  status: string;
  startTime?: string | null;
  endTime?: string | null;
  httpStatus?: number | null;
  errCode?: string | null;
  errorMessage?: string | null;
  nextAttemptAt?: string | null;
  retryDelayMs?: number | null;
  input?: unknown;
}

export interface WaitingFor {
  reason: string;
  until?: string | null;
  host?: string;
  errCode?: string;
}

export interface NodeStatus {
  nodeId: string;
  title: string;
  kind: string;
  dependsOn?: string[];
  status: string;
  skipped?: boolean;
  flowgateStatus?: string;
  waitingFor?: WaitingFor | null;
  errCode?: string | null;
  errorMessage?: string | null;
  attempts: Attempt[];
  startTime?: string | null;
  endTime?: string | null;
}

export interface ExecutionStatusView {
  executionId: string;
  canvasId: string;
  version: number;
  status: ExecStatus;
  trigger: string;
  nodeExecutions: NodeStatus[];
  createdAt: string;
  startedAt?: string | null;
  finishedAt?: string | null;
  errCode?: string | null;
  errMsg?: string | null;
}

export interface NodeDetail {
  nodeId: string;
  title: string;
  kind: string;
  status: string;
  dependsOn: string[];
  output: unknown;
  messages: { messageId?: string; type?: string; content?: string }[];
  usage?: unknown;
  errCode?: string | null;
  errorMessage?: string | null;
  waitingFor?: WaitingFor | null;
  startTime?: string | null;
  endTime?: string | null;
  attempts: Attempt[];
  files: { name: string; type: string; size: number; url: string }[];
}

export interface WorkflowSummary {
  canvasId: string;
  title: string;
  version: number;
  createdAt: string;
  updatedAt: string;
}

export interface TaskDef {
  id: string;
  title?: string;
  kind: string;
  dependsOn?: string[];
}

export interface WorkflowRecord extends WorkflowSummary {
  description?: string;
  definition: { tasks: TaskDef[]; [k: string]: unknown };
}

export interface JsonSchema {
  'x-variableType'?: string;
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  enum?: unknown[];
  default?: unknown;
  description?: string;
  title?: string;
}

export interface Webhook {
  webhookId: string;
  webhookUrl: string;
  canvasId: string;
  isEnabled: boolean;
  timeout: number;
  bodyMode: string;
  rawVariable?: string;
  signature: { scheme: string; header?: string } | null;
  rateLimit: unknown;
  expectedEvery: number | null;
  forwardHeaders: string[] | null;
  dedupe: unknown;
}

export interface WebhookCall {
  recordId: string;
  executionId?: string | null;
  httpStatus: number;
  responseTime: number;
  callStatus: string;
  status: string;
  failureReason?: string | null;
  errCode?: string | null;
  duplicate: boolean;
  sourceIp?: string;
  bodySize?: number;
  requestMethod?: string;
  requestUrl?: string;
  createdAt: string;
}

export interface Endpoint {
  id: string;
  url: string;
  description?: string | null;
  eventTypes?: string[] | null;
  enabled: boolean;
  ordered?: boolean;
  disabledReason?: string | null;
  failingSince?: string | null;
  createdAt: string;
}

export interface DeliveryAttempt {
  attempt: number;
  outcome: string;
  httpStatus?: number | null;
  latencyMs?: number | null;
  error?: string | null;
  response?: string | null;
  startTime?: string;
}

export interface Message {
  id: string;
  eventType: string;
  executionId?: string | null;
  status: string;
  attempts: DeliveryAttempt[];
  nextAttemptAt?: string | null;
  lastError?: string | null;
  payload: unknown;
  createdAt: string;
}

export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  scopes: Scope[];
  createdAt: string;
}
