import { createHash } from 'node:crypto';
import stringify from 'safe-stable-stringify';
import type { Config } from '../config.ts';
import { fail, failure, ok, type Result } from '../errors.ts';
import { newEndpointId, newEndpointSecret, newExecutionId } from '../ids.ts';
import { checkEndpointUrl } from '../delivery/endpointUrl.ts';
import type { Bus } from '../engine/bus.ts';
import type { Metrics } from '../metrics.ts';
import { TERMINAL_EXECUTION, type AcceptItem, type ExecutionStatus, type IdempotencyClaim, type NewExecution, type Store, type Trigger, type WebhookCallRecord, type WorkflowRecord } from '../store/store.ts';
import type { NewEvent } from '../store/delivery.ts';
import type { ReadCache } from './readCache.ts';
import type { GroupCommitter } from './groupCommit.ts';
import { RECENT_KEY_MAX_MS, RecentKeys, type RecentKey } from './recentKeys.ts';
import { executionEvent, nodeEvent, webhookReceivedEvent } from '../delivery/payloads.ts';
import { settleAtAccept } from '../engine/atAccept.ts';
import type { WorkflowDefinition } from '../workflows/definition.ts';
import { fileView } from '../files/views.ts';
import type { Backpressure } from './backpressure.ts';
import { resourceFileKeys, validateVariables } from '../workflows/variables.ts';

export interface TriggerDeps {
  store: Store;
  /** Commits accepts in groups; every trigger of the process goes through the same one. */
  commits: GroupCommitter;
  /** Workflows by `workspaceId/canvasId`; the routes that change a workflow forget it. */
  workflows: ReadCache<WorkflowRecord>;
  config: Config;
  bus: Bus;
  metrics?: Metrics;
  now?: () => number;
  backpressure?: Backpressure;
}

export interface TriggerRequest {
  workspaceId: string;
  canvasId: string;
  /** The parsed request body (`undefined` for an empty body). */
  body: unknown;
  trigger: Trigger;
  /** The API key id or webhook id accepting the run (shown in its timeline). */
  triggeredBy?: string;
  /** Request headers the webhook passes on to the run as `trigger.headers`. */
  triggerHeaders?: Record<string, string>;
  idempotencyKey?: string;
  /**
   * What identifies the request under its key, when the caller has it already: a key made from the
   * body's own bytes (Refly's debounce) names the body, so a second hash of it would say nothing new.
   */
  requestHash?: string;
  /** Idempotency keys are scoped per surface (`api`, `webhook:<id>`). */
  idempotencyScope?: string;
  /** How long the key is remembered; 24 h by default, 1 s for Refly's body debounce. */
  idempotencyTtlMs?: number;
  /**
   * The key alone is the request's identity (a webhook's dedupe rule): a retry whose bytes differ
   * (a fresh timestamp inside) is the same event, never IDEMPOTENCY_KEY_REUSED.
   */
  idempotencyKeyOnly?: boolean;
  /**
   * A duplicate arriving while the first is still being committed: the API answers 409;
   * webhooks wait for the first and answer with its execution, since senders retry on errors.
   */
  whileInProgress?: 'reject' | 'wait';
  /** Workflows with `apiEnabled: false` still run from their webhook. */
  ignoreApiDisabled?: boolean;
  /** Whether the body may carry `callbackUrl` (API runs; a webhook's body belongs to its sender). */
  allowCallback?: boolean;
  /**
   * The webhook call carrying this trigger: its history row and `webhook.received` event commit with
   * the run (status and execution id are filled in from the outcome).
   */
  webhookCall?: Omit<WebhookCallRecord, 'status' | 'executionId' | 'duplicate' | 'httpStatus' | 'errCode'>;
}

export interface Accepted {
  executionId: string;
  /** `init` (queued for a worker), or `finish`/`failed` for a run of expression tasks its accept evaluated. */
  status: ExecutionStatus;
  /** The run's `callbackUrl` endpoint: its id and the secret its deliveries are signed with. */
  callback?: { endpointId: string; secret: string };
  /** True when this answers a repeated Idempotency-Key with the original execution. */
  replayed: boolean;
  /** True when the request's webhook call was recorded in the same commit (else the caller records it). */
  callRecorded?: boolean;
}

/** Keys are remembered for 24 h. */
export const IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000;

const BODY_EXAMPLE = { variables: { feedback: 'The new dashboard is great' } };

/**
 * Accepting a run: check the body and variables against the workflow's own contract, then commit the
 * execution (and its idempotency key) before anyone is told it exists.
 */
export class RunTrigger {
  /** Keys whose first request is between its checks and its commit, in this process. */
  private readonly pending = new Map<string, Promise<Result<Accepted>>>();
  private readonly now: () => number;
  /** Short-lived keys, when this process is the store's only one. */
  private readonly recent?: RecentKeys;

  constructor(private readonly deps: TriggerDeps) {
    this.now = deps.now ?? Date.now;
    if (deps.store.singleProcess) this.recent = new RecentKeys();
  }

  async trigger(req: TriggerRequest): Promise<Result<Accepted>> {
    const { store, config } = this.deps;
    const key = workflowKey(req.workspaceId, req.canvasId);
    const wf = this.deps.workflows.fresh(key) ?? (await this.deps.workflows.get(key, () => store.catalog.getWorkflow(req.workspaceId, req.canvasId)));
    if (!wf) return fail('CANVAS_NOT_FOUND', `Workflow ${req.canvasId} not found`);
    if (wf.definition.apiEnabled === false && !req.ignoreApiDisabled) return fail('WORKFLOW_API_DISABLED');
    if (this.deps.backpressure && !(await this.deps.backpressure.admit())) {
      return { ok: false, error: { ...failure('SERVICE_OVERLOADED', 'Too many runs are waiting to start; retry later'), headers: { 'retry-after': '1' } } };
    }

    const body = checkBody(req.body, req.allowCallback ?? false);
    if (!body.ok) return body;
    const callback = body.value.callbackUrl === undefined ? undefined : await checkEndpointUrl(body.value.callbackUrl, config.allowPrivateNetworks);
    if (callback && !callback.ok) return callback;
    const variables = validateVariables(wf.definition, body.value.variables);
    if (!variables.ok) return variables;
    const files = await this.resolveFiles(req.workspaceId, wf.definition, variables.value);
    if (!files.ok) return files;

    const now = this.now();
    const executionId = newExecutionId(now);
    const execution: NewExecution = {
      executionId,
      workspaceId: req.workspaceId,
      canvasId: wf.canvasId,
      version: wf.version,
      trigger: req.trigger,
      variables: files.value,
      nodes: wf.definition.tasks.map((t) => ({ nodeId: t.id, kind: t.kind, title: t.title, deps: t.dependentTasks ?? [] })),
      now,
      deadlineAt: now + (wf.definition.timeoutMs ?? config.executionTimeoutMs),
      triggeredBy: req.triggeredBy,
      triggerHeaders: req.triggerHeaders,
      callback: callback?.ok ? { endpointId: newEndpointId(), url: callback.value, secret: newEndpointSecret(), eventTypes: [...CALLBACK_EVENTS] } : undefined,
    };

    if (!req.idempotencyKey) {
      await this.settle(wf.definition, execution);
      const r = await this.commit(this.itemOf(req, execution));
      if (r.type !== 'created') throw new Error(`unexpected accept outcome ${r.type}`);
      return this.accepted(execution, req);
    }
    const scope = req.idempotencyScope ?? 'api';
    const pendingKey = `${req.workspaceId}\u0000${scope}\u0000${req.idempotencyKey}`;
    const inMemory = this.recent !== undefined && (req.idempotencyTtlMs ?? IDEMPOTENCY_TTL_MS) <= RECENT_KEY_MAX_MS;
    if (inMemory) {
      const seen = this.recent!.get(pendingKey, now);
      if (seen) return this.replay(seen, this.requestHash(req), req);
    }
    const inProgress = this.pending.get(pendingKey);
    if (inProgress) {
      if (req.whileInProgress !== 'wait') return fail('IDEMPOTENCY_IN_PROGRESS');
      const first = await inProgress;
      // Nothing was committed for this call: the caller records it in the webhook's history.
      return first.ok ? ok({ ...first.value, replayed: true, callRecorded: req.webhookCall ? false : undefined }) : first;
    }
    const commit = this.settle(wf.definition, execution).then(() => (inMemory ? this.commitRemembered(execution, req, pendingKey) : this.commitOnce(execution, req, scope)));
    this.pending.set(pendingKey, commit);
    try {
      return await commit;
    } finally {
      this.pending.delete(pendingKey);
    }
  }

  /** What identifies a request under its key: a repeat with another hash is IDEMPOTENCY_KEY_REUSED. */
  private requestHash(req: TriggerRequest): string {
    if (req.requestHash !== undefined) return req.requestHash;
    return createHash('sha256').update(stringify(req.idempotencyKeyOnly ? { canvasId: req.canvasId } : { canvasId: req.canvasId, body: req.body ?? null }) ?? '').digest('hex');
  }

  /** A short-lived key kept in this process (see RecentKeys): committed without a key row, remembered once committed. */
  private async commitRemembered(execution: NewExecution, req: TriggerRequest, key: string): Promise<Result<Accepted>> {
    // Set on the run itself: a copy spread with one more property would be a V8 dictionary.
    execution.triggerKey = req.idempotencyKey;
    const r = await this.commit(this.itemOf(req, execution));
    if (r.type !== 'created') throw new Error(`unexpected accept outcome ${r.type}`);
    const response = { executionId: execution.executionId, status: statusOf(execution), callback: callbackView(execution) };
    this.recent!.remember(key, { executionId: execution.executionId, requestHash: this.requestHash(req), response, expiresAt: execution.now + req.idempotencyTtlMs! }, execution.now);
    return this.accepted(execution, req);
  }

  /** The answer to a key seen before: the first execution, or a refusal when the request differs. */
  private replay(seen: RecentKey, requestHash: string, req: TriggerRequest): Result<Accepted> {
    if (seen.requestHash !== requestHash) return fail('IDEMPOTENCY_KEY_REUSED');
    const original = seen.response as { status?: ExecutionStatus; callback?: Accepted['callback'] };
    // Nothing was committed for this call: the caller records it in the webhook's history.
    return ok({ executionId: seen.executionId, status: original.status ?? 'init', replayed: true, callback: original.callback, callRecorded: req.webhookCall ? false : undefined });
  }

  private async commitOnce(execution: NewExecution, req: TriggerRequest, scope: string): Promise<Result<Accepted>> {
    const requestHash = this.requestHash(req);
    const response = { executionId: execution.executionId, status: statusOf(execution), callback: callbackView(execution) };
    const idempotency = { scope, key: req.idempotencyKey!, requestHash, response, ttlMs: req.idempotencyTtlMs ?? IDEMPOTENCY_TTL_MS };
    const r = await this.commit(this.itemOf(req, execution, idempotency));
    switch (r.type) {
      case 'created':
        return this.accepted(execution, req);
      case 'replayed': {
        const original = r.response as { status?: ExecutionStatus; callback?: Accepted['callback'] };
        return ok({ executionId: r.executionId, status: original?.status ?? 'init', replayed: true, callback: original?.callback, callRecorded: req.webhookCall !== undefined });
      }
      case 'key_reused':
        return fail('IDEMPOTENCY_KEY_REUSED');
      case 'recorded':
        throw new Error('an accept with an execution came back as a bare call record');
      default: {
        const never: never = r;
        throw new Error(`unhandled ${JSON.stringify(never)}`);
      }
    }
  }

  /** Through the group committer; an item the store could not write rethrows its own error. */
  private async commit(item: AcceptItem) {
    const r = await this.deps.commits.submit(item);
    if (r.type === 'error') throw r.error;
    return r;
  }

  /**
   * Evaluates a run of expression tasks only (engine/atAccept.ts) so that it commits finished. Only
   * once the request is known not to replay an earlier one: a replay evaluates nothing.
   */
  private async settle(workflow: WorkflowDefinition, execution: NewExecution): Promise<void> {
    if (!this.deps.config.evaluateOnAccept) return;
    const settled = await settleAtAccept(workflow, execution, this.deps.config);
    if (settled) execution.settled = settled;
  }

  /**
   * What the accept commits: the run, its key, the webhook call's history row and `webhook.received`
   * event, and the events of a run its accept settled. One literal of one shape: a spread given new
   * properties becomes a dictionary in V8, on every accepted call.
   */
  private itemOf(req: TriggerRequest, execution: NewExecution, idempotency?: IdempotencyClaim): AcceptItem {
    const c = req.webhookCall;
    const events = settledEvents(execution);
    if (!c) return { execution, idempotency, call: undefined, events: events.length ? events : undefined };
    const call: WebhookCallRecord = {
      recordId: c.recordId,
      webhookId: c.webhookId,
      status: 'accepted',
      httpStatus: 200,
      executionId: execution.executionId,
      responseTime: c.responseTime,
      sourceIp: c.sourceIp,
      bodySize: c.bodySize,
      duplicate: false,
      createdAt: c.createdAt,
    };
    const facts = { workspaceId: execution.workspaceId, webhookId: c.webhookId, canvasId: execution.canvasId, executionId: execution.executionId, recordId: c.recordId, sourceIp: c.sourceIp, bodySize: c.bodySize };
    events.unshift(webhookReceivedEvent(facts, c.createdAt));
    return { execution, idempotency, call, events };
  }

  private accepted(execution: NewExecution, req: TriggerRequest): Result<Accepted> {
    const { metrics, bus } = this.deps;
    const status = statusOf(execution);
    metrics?.executionsAccepted.inc({ trigger: req.trigger });
    const evaluated = execution.settled?.nodes.filter((n) => n.status !== 'skipped').length;
    if (evaluated) metrics?.nodesEvaluatedAtAccept.inc(evaluated);
    if (TERMINAL_EXECUTION.has(status)) {
      metrics?.executionsEnded.inc({ status });
      bus.emit('execution.terminal', execution.executionId, status);
    } else {
      this.deps.backpressure?.accepted();
      bus.emit('execution.created', execution.executionId);
    }
    return ok({ executionId: execution.executionId, status, replayed: false, callback: callbackView(execution), callRecorded: req.webhookCall !== undefined });
  }

  /**
   * Resource variables name uploaded files: each must exist in the workspace and not have expired.
   * Templates then see `{fileKey, name, type, size, sha256}` in place of the key, and the files are
   * pinned so the upload sweeper leaves them to the execution.
   */
  private async resolveFiles(workspaceId: string, def: WorkflowDefinition, variables: Record<string, unknown>): Promise<Result<Record<string, unknown>>> {
    const refs = resourceFileKeys(def, variables);
    if (refs.length === 0) return ok(variables);
    const found = new Map((await this.deps.store.files.getFiles(workspaceId, refs.map((r) => r.fileKey), this.now())).map((f) => [f.fileKey, f]));
    const missing = refs.filter((r) => !found.has(r.fileKey));
    if (missing.length === 0) {
      await this.deps.store.files.pinFiles(workspaceId, [...found.keys()]);
      const resolved = { ...variables };
      const describe = (k: unknown) => fileView(found.get(String(k))!);
      for (const v of def.variables ?? []) {
        if (v.variableType !== 'resource' || resolved[v.name] === undefined) continue;
        const value = resolved[v.name];
        resolved[v.name] = Array.isArray(value) ? value.map(describe) : describe(value);
      }
      return ok(resolved);
    }
    return fail(
      'FILE_NOT_FOUND',
      `Unknown fileKey for ${missing.map((m) => `variables.${m.variable}`).join(', ')}`,
      { errors: missing.map((m) => ({ field: `variables.${m.variable}`, fileKey: m.fileKey, message: 'file not found' })) },
    );
  }
}

export const workflowKey = (workspaceId: string, canvasId: string): string => `${workspaceId}/${canvasId}`;

/** What a run's `callbackUrl` hears: how the run ended. Other events need an event endpoint. */
export const CALLBACK_EVENTS = ['execution.finished', 'execution.failed'] as const;

const statusOf = (e: NewExecution): ExecutionStatus => e.settled?.status ?? 'init';

/** What a run its accept settled announces, as a worker's turns would have: it started, each evaluated node ended, it ended. */
function settledEvents(e: NewExecution): NewEvent[] {
  const s = e.settled;
  if (!s) return [];
  const { executionId, workspaceId, canvasId, trigger, now } = e;
  const events = [executionEvent({ executionId, workspaceId, canvasId, trigger, createdAt: now, startedAt: now }, 'execution.started', now)];
  for (const n of s.nodes) {
    if (n.status === 'finish') events.push(nodeEvent({ executionId, workspaceId, canvasId, nodeId: n.nodeId, attempt: 1 }, 'node.finished', now));
    if (n.status === 'failed') events.push(nodeEvent({ executionId, workspaceId, canvasId, nodeId: n.nodeId, attempt: 1, errCode: n.errCode, errMsg: n.errMsg }, 'node.failed', now));
  }
  const ended = { executionId, workspaceId, canvasId, trigger, createdAt: now, startedAt: now, finishedAt: now, errCode: s.errCode, errMsg: s.errMsg };
  events.push(executionEvent(ended, s.status === 'finish' ? 'execution.finished' : 'execution.failed', now));
  return events;
}

const callbackView = (e: NewExecution): Accepted['callback'] => (e.callback ? { endpointId: e.callback.endpointId, secret: e.callback.secret } : undefined);

/**
 * Refly's body rule: `{ "variables": {…} }` or empty; anything else is answered with the right
 * shape. API runs may add `callbackUrl`.
 */
function checkBody(body: unknown, allowCallback: boolean): Result<{ variables: unknown; callbackUrl?: string }> {
  if (body === undefined || body === null) return ok({ variables: {} });
  if (typeof body !== 'object' || Array.isArray(body)) {
    return fail('INVALID_REQUEST_BODY', 'The body must be a JSON object like {"variables": {...}}', { example: BODY_EXAMPLE });
  }
  const keys = Object.keys(body);
  const extra = keys.filter((k) => k !== 'variables' && !(allowCallback && k === 'callbackUrl'));
  if (extra.length > 0) {
    return fail(
      'INVALID_REQUEST_BODY',
      `Unexpected top-level field(s) ${extra.map((k) => JSON.stringify(k)).join(', ')}: wrap workflow inputs in "variables"`,
      { example: BODY_EXAMPLE, unexpected: extra },
    );
  }
  const { variables, callbackUrl } = body as { variables?: unknown; callbackUrl?: unknown };
  // A body of the wrong shape is Refly's INVALID_REQUEST_BODY; INVALID_VARIABLES is for the values inside.
  if (variables !== undefined && variables !== null && (typeof variables !== 'object' || Array.isArray(variables))) {
    return fail('INVALID_REQUEST_BODY', '"variables" must be a JSON object of variable names to values', { example: BODY_EXAMPLE });
  }
  if (callbackUrl !== undefined && typeof callbackUrl !== 'string') return fail('INVALID_REQUEST_BODY', '"callbackUrl" must be a URL string');
  return ok({ variables: variables ?? {}, callbackUrl });
}
