import type { NewEvent } from '../store/delivery.ts';
import type { DriftEventData, EndpointDisabledEventData, ExecutionEventData, NodeEventData, WebhookReceivedEventData, WebhookSilentEventData } from './eventTypes.ts';

/**
 * What each event says. The store writes these in the transaction of the change they report (the
 * outbox); what goes in them is decided here, typed from the catalog in eventTypes.ts, so a payload
 * cannot drift from `docs/events/*.json` without the compiler noticing.
 */
const iso = (ms: number | undefined): string | undefined => (ms === undefined ? undefined : new Date(ms).toISOString());

/**
 * An event whose payload is built the first time it is read. The store reads `data` only for an
 * event some endpoint hears; building every payload anyway — dates formatted, objects made for
 * events nobody subscribed to — was 5–8% of the CPU of a webhook accept that evaluates its run.
 */
class LazyEvent implements NewEvent {
  #data?: Record<string, unknown>;
  readonly #build: () => Record<string, unknown>;
  constructor(
    readonly workspaceId: string,
    readonly type: string,
    readonly executionId: string | undefined,
    readonly now: number,
    build: () => Record<string, unknown>,
  ) {
    this.#build = build;
  }

  get data(): Record<string, unknown> {
    return (this.#data ??= this.#build());
  }
}

const event = (workspaceId: string, type: string, executionId: string | undefined, now: number, build: () => Record<string, unknown>): NewEvent =>
  new LazyEvent(workspaceId, type, executionId, now, build);

export interface ExecutionFacts {
  executionId: string;
  workspaceId: string;
  canvasId: string;
  trigger: string;
  createdAt: number;
  startedAt?: number;
  finishedAt?: number;
  errCode?: string;
  errMsg?: string;
}

export type ExecutionEventType = 'execution.started' | 'execution.finished' | 'execution.failed';

/** `execution.started|finished|failed`: the execution as the status endpoint names it. */
export function executionEvent(e: ExecutionFacts, type: ExecutionEventType, now: number): NewEvent {
  return event(e.workspaceId, type, e.executionId, now, (): ExecutionEventData => ({
    executionId: e.executionId,
    canvasId: e.canvasId,
    status: type === 'execution.started' ? 'executing' : type === 'execution.finished' ? 'finish' : 'failed',
    trigger: e.trigger,
    errCode: e.errCode,
    errMsg: e.errMsg,
    createdAt: iso(e.createdAt)!,
    startedAt: iso(e.startedAt ?? (type === 'execution.started' ? now : undefined)),
    finishedAt: type === 'execution.started' ? undefined : iso(e.finishedAt ?? now),
  }));
}

export interface NodeFacts {
  executionId: string;
  workspaceId: string;
  canvasId: string;
  nodeId: string;
  attempt: number;
  httpStatus?: number;
  errCode?: string;
  errMsg?: string;
}

export function nodeEvent(n: NodeFacts, type: 'node.finished' | 'node.failed', now: number): NewEvent {
  return event(n.workspaceId, type, n.executionId, now, (): NodeEventData => ({
    executionId: n.executionId,
    canvasId: n.canvasId,
    nodeId: n.nodeId,
    status: type === 'node.finished' ? 'finish' : 'failed',
    attempt: n.attempt,
    httpStatus: n.httpStatus,
    errCode: n.errCode,
    errMsg: n.errMsg,
  }));
}

export function driftEvent(n: Pick<NodeFacts, 'executionId' | 'workspaceId' | 'canvasId' | 'nodeId'>, drift: unknown, now: number): NewEvent {
  const data: DriftEventData = { executionId: n.executionId, canvasId: n.canvasId, nodeId: n.nodeId, drift: drift as DriftEventData['drift'] };
  return { workspaceId: n.workspaceId, type: 'node.contract_drift', executionId: n.executionId, now, data };
}

export interface WebhookCallFacts {
  workspaceId: string;
  webhookId: string;
  canvasId: string;
  executionId: string;
  recordId: string;
  sourceIp?: string;
  bodySize: number;
}

export function webhookReceivedEvent(c: WebhookCallFacts, now: number): NewEvent {
  return event(c.workspaceId, 'webhook.received', c.executionId, now, (): WebhookReceivedEventData => ({
    webhookId: c.webhookId,
    canvasId: c.canvasId,
    executionId: c.executionId,
    recordId: c.recordId,
    sourceIp: c.sourceIp,
    bodySize: c.bodySize,
  }));
}

/** `webhook.silent`: a webhook with `expectedEvery` heard nothing for that long. */
export function webhookSilentEvent(
  w: { workspaceId: string; webhookId: string; canvasId: string; expectedEvery: number; lastCallAt?: number; quietSince: number },
  now: number,
): NewEvent {
  const data: WebhookSilentEventData = {
    webhookId: w.webhookId,
    canvasId: w.canvasId,
    expectedEvery: w.expectedEvery,
    lastCallAt: iso(w.lastCallAt),
    silentForSeconds: Math.floor((now - w.quietSince) / 1000),
  };
  return { workspaceId: w.workspaceId, type: 'webhook.silent', now, data };
}

/** `endpoint.disabled`: heard by the workspace's other endpoints. */
export function endpointDisabledEvent(e: { workspaceId: string; endpointId: string; url: string; failingSince?: number }, reason: string, now: number): NewEvent {
  const data: EndpointDisabledEventData = { endpointId: e.endpointId, url: e.url, reason, failingSince: iso(e.failingSince) };
  return { workspaceId: e.workspaceId, type: 'endpoint.disabled', now, data };
}
