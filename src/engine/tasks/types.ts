import type { Config } from '../../config.ts';
import type { CircuitBreakers } from '../breaker.ts';
import type { TaskFiles } from '../../files/taskFiles.ts';
import type { ErrorCode } from '../../errors.ts';
import type { TaskDef, WorkflowDefinition } from '../../workflows/definition.ts';

/** What expressions and templates see (docs/workflows.md). */
export interface EvalContext {
  variables: Record<string, unknown>;
  tasks: Record<string, { output: unknown; messages: Message[]; status: string }>;
  execution: { id: string; canvasId: string };
  /**
   * How the run was started: `kind` (api, webhook, retry…), the webhook that received it, when, and
   * the request headers that webhook passes on (lower-cased names; empty for API runs).
   */
  trigger?: { kind: string; webhookId?: string; receivedAt: string; headers: Record<string, string> };
}

export interface Message {
  messageId: string;
  type: 'ai' | 'tool';
  content: string;
  reasoningContent?: string;
  toolCalls?: { id: string; name: string; arguments: string }[];
  toolCallId?: string;
}

export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

/** Everything a task needs from the outside, passed in so tasks stay testable. */
export interface TaskInput<T extends TaskDef = TaskDef> {
  task: T;
  workflow: WorkflowDefinition;
  context: EvalContext;
  executionId: string;
  attempt: number;
  /** Aborted on execution abort, node timeout or shutdown. `signal.reason` tells which. */
  signal: AbortSignal;
  config: Config;
  /** Per-host circuit breakers of this worker; `http` tasks consult them. */
  breakers?: CircuitBreakers;
  /** Files of this execution's workspace: `$fileText`, file request bodies, `saveAs: "file"`. */
  files?: TaskFiles;
}

/** Outcome of one attempt, as a value (STYLE §7). */
export type TaskOutcome =
  | {
      type: 'finished';
      output: unknown;
      messages?: Message[];
      usage?: TokenUsage;
      /** HTTP status of the call, when the task made one. */
      httpStatus?: number;
      /** The response's shape changed against the last one seen for this task (see tasks/contract.ts). */
      drift?: unknown;
      /** What the attempt sent: the rendered request or prompt (the worker masks `$env` secrets in it). */
      input?: unknown;
    }
  | {
      type: 'failed';
      errCode: ErrorCode;
      message: string;
      /** Whether another attempt could succeed (network error, 5xx, 429…). Used by retry policies. */
      retryable: boolean;
      /** Honoured `Retry-After`, in ms, when the downstream sent one. */
      retryAfterMs?: number;
      httpStatus?: number;
      messages?: Message[];
      usage?: TokenUsage;
      input?: unknown;
    }
  /** Not attempted: the downstream's breaker is open. Run again at `runAt`, no attempt spent. */
  | { type: 'deferred'; runAt: number; reason: string; host?: string };

export type TaskRunner<T extends TaskDef = TaskDef> = (input: TaskInput<T>) => Promise<TaskOutcome>;
