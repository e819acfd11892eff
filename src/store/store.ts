import type { ErrorCode } from '../errors.ts';
import type {
  ClaimedMessage,
  CompleteMessageInput,
  DeliveryRules,
  MessageTurn,
  EndpointPatch,
  EndpointRecord,
  ListMessagesQuery,
  MessageAttemptRecord,
  MessageRecord,
} from './delivery.ts';
import type { WorkflowDefinition } from '../workflows/definition.ts';
import type { NewEvent } from './delivery.ts';

/**
 * The one store interface: domain verbs, not a query runner. The engine and the HTTP layer
 * import only these types; `sqlite/` and `postgres/` provide the implementations, and
 * `test/store/*.test.ts` runs the same conformance suite against both.
 *
 * Every scheduling transition checks the lease owner and the prior state in its WHERE clause, so a
 * worker that lost its lease turns into a no-op instead of overwriting someone else's result.
 */
export const EXECUTION_STATUSES = ['init', 'executing', 'finish', 'failed'] as const;
export type ExecutionStatus = (typeof EXECUTION_STATUSES)[number];
export type NodeStatus = 'init' | 'waiting' | 'executing' | 'finish' | 'failed' | 'skipped';
/** The surface a run came through; `api`, `cli` and `mcp` are what a caller may report (Flowgate-Trigger). */
export const TRIGGERS = ['api', 'webhook', 'cli', 'mcp', 'retry', 'schedule'] as const;
export type Trigger = (typeof TRIGGERS)[number];
export const REPORTED_TRIGGERS = ['api', 'cli', 'mcp'] as const satisfies readonly Trigger[];
export type Scope = 'run' | 'read' | 'admin';

export interface WorkspaceRecord {
  id: string;
  name: string;
  createdAt: number;
  /** Set while an instance administrator has the workspace disabled. */
  disabledAt?: number;
}

export interface ApiKeyRecord {
  id: string;
  workspaceId: string;
  name: string;
  /** First characters of the secret, to recognise a key in a list without revealing it. */
  prefix: string;
  secretHash: string;
  scopes: Scope[];
  createdAt: number;
}

export interface WorkflowRecord {
  canvasId: string;
  workspaceId: string;
  title: string;
  version: number;
  definition: WorkflowDefinition;
  createdAt: number;
  updatedAt: number;
}

export interface WorkflowSummary {
  canvasId: string;
  title: string;
  version: number;
  createdAt: number;
  updatedAt: number;
}

export interface ListWorkflowsQuery {
  keyword?: string;
  order: 'creationAsc' | 'creationDesc' | 'updationAsc' | 'updationDesc';
  offset: number;
  limit: number;
}

export interface ExecutionRecord {
  executionId: string;
  workspaceId: string;
  canvasId: string;
  version: number;
  status: ExecutionStatus;
  trigger: Trigger;
  variables: Record<string, unknown>;
  errCode?: ErrorCode;
  errMsg?: string;
  createdAt: number;
  startedAt?: number;
  finishedAt?: number;
  deadlineAt: number;
  triggeredBy?: string;
  /** The Idempotency-Key, webhook-id or body hash (`body:…`) the run was accepted under. */
  triggerKey?: string;
  /** The request headers its webhook passes on (`trigger.headers`), lower-cased names. */
  triggerHeaders?: Record<string, string>;
}

export interface NodeRecord {
  executionId: string;
  nodeId: string;
  position: number;
  kind: string;
  title?: string;
  deps: string[];
  status: NodeStatus;
  attempts: number;
  output?: unknown;
  messages?: unknown[];
  usage?: unknown;
  errCode?: ErrorCode;
  errMsg?: string;
  startedAt?: number;
  finishedAt?: number;
  /** Set when the response's shape differs from the last one seen for this task (fields gone, types changed). */
  drift?: unknown;
  /** When a waiting node becomes runnable again. */
  runnableAt?: number;
  /** Why it waits, when that is not a retry (a retry is a waiting node with an error). */
  waitReason?: { kind: 'circuit'; host: string };
}

export interface AttemptRecord {
  executionId: string;
  nodeId: string;
  attempt: number;
  workerId: string;
  status: 'executing' | 'finish' | 'failed';
  httpStatus?: number;
  errCode?: ErrorCode;
  errMsg?: string;
  startedAt: number;
  finishedAt?: number;
  /** When the attempt failed and another is scheduled: when it is due. */
  nextAttemptAt?: number;
  /** What the attempt sent (rendered request or prompt, secrets masked). */
  input?: unknown;
}

export interface NewNode {
  nodeId: string;
  kind: string;
  title?: string;
  deps: string[];
}

export interface NewExecution {
  executionId: string;
  workspaceId: string;
  canvasId: string;
  version: number;
  trigger: Trigger;
  variables: Record<string, unknown>;
  nodes: NewNode[];
  now: number;
  deadlineAt: number;
  /** The API key id or webhook id that accepted the run, for its timeline. */
  triggeredBy?: string;
  /** Request headers the webhook passes on to the run (already filtered by its allow-list). */
  triggerHeaders?: Record<string, string>;
  /** A `callbackUrl`: an event endpoint for this execution only, created with it. */
  callback?: { endpointId: string; url: string; secret: string; eventTypes: string[] };
  /** The dedupe key the run was accepted under, when no key row is stored with it (a short-lived key). */
  triggerKey?: string;
  /** The run as its accept evaluated it (engine/atAccept.ts): written finished, never queued. */
  settled?: SettledAtAccept;
}

/**
 * A run of expression tasks only, evaluated while it was accepted: how it ended, and each node —
 * evaluated in attempt 1, or skipped on a dead branch (nodes after a failed one stay `init`).
 */
export interface SettledAtAccept {
  status: 'finish' | 'failed';
  errCode?: ErrorCode;
  errMsg?: string;
  nodes: SettledNode[];
}

export type SettledNode =
  | { nodeId: string; status: 'finish'; output: unknown; messages?: unknown[] }
  | { nodeId: string; status: 'failed'; errCode: ErrorCode; errMsg: string; messages?: unknown[] }
  /** A dead branch: never attempted. */
  | { nodeId: string; status: 'skipped' };

export interface IdempotencyClaim {
  scope: string;
  key: string;
  requestHash: string;
  /** The response a replay gets, stored with the key. */
  response: unknown;
  ttlMs: number;
}

export type CreateExecutionResult =
  | { type: 'created'; executionId: string }
  | { type: 'replayed'; executionId: string; response: unknown }
  | { type: 'key_reused' };

/**
 * One trigger for `acceptMany`: a run to create, with the key it is accepted under, the webhook call
 * that carried it and the events it produces (all committed together) — or, without `execution`, a
 * webhook call to record on its own (one rejected before a run existed).
 */
export interface AcceptItem {
  execution?: NewExecution;
  idempotency?: IdempotencyClaim;
  /** Recorded when the run is created (status `accepted`) or replayed (`duplicate`, the original run's id). */
  call?: WebhookCallRecord;
  /** Written only if the run is created (e.g. `webhook.received`). */
  events?: NewEvent[];
}

export type AcceptOutcome = CreateExecutionResult | { type: 'recorded' } | { type: 'error'; error: unknown };

export interface ClaimedNode {
  executionId: string;
  nodeId: string;
  attempt: number;
}

/** What a node's task sees of another node of its run. */
export interface NodeContext {
  nodeId: string;
  status: NodeStatus;
  output?: unknown;
  messages?: unknown[];
}

/** A claimed node with everything its task needs, read in the transaction that claimed it. */
export interface ClaimedWork extends ClaimedNode {
  execution: ExecutionRecord;
  /** The run's nodes that have ended, with their outputs. */
  ended: NodeContext[];
}

/** The DAG's state as the advance rule (engine/advance.ts) reads it. */
export interface AdvanceNode {
  nodeId: string;
  kind: string;
  deps: string[];
  status: NodeStatus;
  /** Already released to the queue (runnable_at set) but not started. */
  runnable: boolean;
  /** For `condition` nodes: the boolean it produced. */
  output?: unknown;
  errCode?: ErrorCode;
  errMsg?: string;
}

/** What the advance rule decided: nodes to release, nodes to skip, and whether the run ended. */
export interface Advance {
  runnable: string[];
  skipped: string[];
  outcome?: { status: 'finish' } | { status: 'failed'; errCode: ErrorCode; errMsg: string };
}

/** Decisions the store applies but does not make: they live in `engine/`. */
export interface SchedulingRules {
  advance(nodes: AdvanceNode[]): Advance;
  /** The drift between the previous response shape of a task and this one, if any. */
  drift(previous: string, current: string): unknown;
  /**
   * A claimed node's result, computed on the spot, when its task is deterministic and needs no I/O
   * (transform, condition, output): the turn settles it at once, in the same transaction, and claims
   * what it released. Undefined: the node is handed to the caller to run as usual.
   */
  evaluate?(work: ClaimedWork): Promise<NodeResult | undefined>;
}

/** One completion for `settleAndClaim`. */
export interface Completion {
  executionId: string;
  nodeId: string;
  attempt: number;
  result: NodeResult;
  /** When the attempt ended (the turn that commits it comes later); the turn's `now` if absent. */
  finishedAt?: number;
  /** For http tasks without `expect`: the response's shape, compared with the last one of the task. */
  responseShape?: string;
  /** What the attempt sent, recorded on the attempt (the caller masks secrets). */
  input?: unknown;
}

/** One turn of a worker: settle what finished, then claim up to `claim` nodes — one transaction. */
export interface Turn {
  workerId: string;
  now: number;
  completions: Completion[];
  claim: number;
  leaseMs: number;
}

export interface TurnOutcome {
  /** One per completion, in order. */
  settled: CompleteNodeOutcome[];
  /** The nodes the caller runs: claimed and not evaluated by `rules.evaluate`. */
  claimed: ClaimedWork[];
  /** Nodes claimed and settled within the turn by `rules.evaluate`. */
  evaluated: number;
  /** The last claim came back full: more runnable nodes may be waiting. */
  more: boolean;
  /** Executions that ended in this turn. */
  ended: { executionId: string; status: ExecutionStatus }[];
}

/** What the worker reports when an attempt ends. */
export type NodeResult =
  | { type: 'finished'; output: unknown; messages?: unknown[]; usage?: unknown; httpStatus?: number }
  | { type: 'failed'; errCode: ErrorCode; errMsg: string; messages?: unknown[]; usage?: unknown; httpStatus?: number }
  /** Failed this attempt; run again at `runAt` (the wait lives in the store, not in memory). */
  | { type: 'retry'; runAt: number; errCode: ErrorCode; errMsg: string; httpStatus?: number }
  /** Not attempted after all (circuit open): back to the queue at `runAt`, the attempt un-counted. */
  | { type: 'deferred'; runAt: number; host?: string };

export interface CompleteNodeOutcome {
  /** False when the lease was lost (aborted, timed out or reclaimed): nothing was written. */
  applied: boolean;
  /** Set when this completion ended the execution. */
  executionStatus?: ExecutionStatus;
  /** For a finished http node: how its response's shape changed since the last one. */
  drift?: unknown;
}

export interface ListExecutionsQuery {
  workspaceId: string;
  canvasId?: string;
  status?: ExecutionStatus;
  trigger?: Trigger;
  since?: number;
  until?: number;
  /** Exclusive upper bound on the execution id (ids sort by time). */
  cursor?: string;
  limit: number;
}

export interface Backlog {
  /** Accepted executions no worker has started yet. */
  pendingExecutions: number;
  /** Nodes ready to be claimed now. */
  runnableNodes: number;
}

export type BodyMode = 'variables' | 'raw';
export type SignatureScheme = 'standard-webhooks' | 'github' | 'stripe' | 'hmac-sha256';

export interface WebhookSignature {
  scheme: SignatureScheme;
  secret: string;
  /** Header carrying the signature, for `hmac-sha256` (default `x-signature`). */
  header?: string;
}

export interface WebhookRecord {
  webhookId: string;
  workspaceId: string;
  canvasId: string;
  enabled: boolean;
  /** Seconds to wait for the run before answering; 0 answers at once. */
  timeout: number;
  bodyMode: BodyMode;
  /** For `raw` mode: the variable the whole body goes into. */
  rawVariable?: string;
  signature?: WebhookSignature;
  rateLimit?: { perMinute?: number; perDay?: number };
  expectedEvery?: number;
  /** Request headers passed to runs as `trigger.headers`; undefined: the signature scheme's defaults. */
  forwardHeaders?: string[];
  /** How a sender's retry of the same event is recognised; undefined: the built-in rules. */
  dedupe?: WebhookDedupe;
  createdAt: number;
  updatedAt: number;
}

/** A preset (`stripe`, `github`, `standard-webhooks`), a JSON pointer into the body, or JSONata over `{body, headers}`. */
export interface WebhookDedupe {
  key: string;
  windowHours?: number;
}

export type WebhookPatch = Partial<Pick<WebhookRecord, 'enabled' | 'timeout' | 'bodyMode' | 'rawVariable' | 'signature' | 'rateLimit' | 'expectedEvery' | 'forwardHeaders'>> & {
  /** `null` removes the rule. */
  dedupe?: WebhookDedupe | null;
  /** `null` removes the signature requirement. */
  signature?: WebhookSignature | null;
};

export interface WebhookCallRecord {
  recordId: string;
  webhookId: string;
  status: 'accepted' | 'duplicate' | 'rejected';
  httpStatus: number;
  errCode?: ErrorCode;
  executionId?: string;
  responseTime: number;
  sourceIp?: string;
  bodySize: number;
  duplicate: boolean;
  createdAt: number;
  /** When read back: the state of the execution the call started or was answered with. */
  execution?: { status: ExecutionStatus; finishedAt?: number; errMsg?: string };
}

export interface FileRecord {
  fileKey: string;
  workspaceId: string;
  name: string;
  type: string;
  size: number;
  sha256: string;
  /** Where the storage backend keeps the bytes. */
  storagePath: string;
  createdAt: number;
  /** Unreferenced uploads expire; files an execution uses or produced do not. */
  expiresAt?: number;
  executionId?: string;
  nodeId?: string;
}

/** Workspaces, API keys, workflows with their versions, and instance settings. */
export interface CatalogStore {
  ensureWorkspace(workspaceId: string, now: number): Promise<void>;
  /** False when the id is taken. */
  createWorkspace(w: WorkspaceRecord): Promise<boolean>;
  getWorkspace(workspaceId: string): Promise<WorkspaceRecord | undefined>;
  listWorkspaces(q: { offset: number; limit: number }): Promise<{ items: WorkspaceRecord[]; total: number }>;
  /** `disabledAt: null` enables it again. */
  updateWorkspace(workspaceId: string, patch: { name?: string; disabledAt?: number | null }): Promise<WorkspaceRecord | undefined>;
  createApiKey(key: ApiKeyRecord): Promise<void>;
  findApiKeyByHash(secretHash: string): Promise<ApiKeyRecord | undefined>;
  listApiKeys(workspaceId: string): Promise<ApiKeyRecord[]>;
  deleteApiKey(workspaceId: string, id: string): Promise<boolean>;
  countApiKeys(): Promise<number>;
  /** Creates version 1. Fails (returns false) if the id exists. */
  createWorkflow(workspaceId: string, canvasId: string, definition: WorkflowDefinition, now: number): Promise<boolean>;
  /** Adds a new immutable version; undefined if the workflow does not exist in this workspace. */
  updateWorkflow(workspaceId: string, canvasId: string, definition: WorkflowDefinition, now: number): Promise<WorkflowRecord | undefined>;
  getWorkflow(workspaceId: string, canvasId: string): Promise<WorkflowRecord | undefined>;
  getWorkflowVersion(workspaceId: string, canvasId: string, version: number): Promise<WorkflowDefinition | undefined>;
  listWorkflows(workspaceId: string, q: ListWorkflowsQuery): Promise<{ items: WorkflowSummary[]; total: number }>;
  deleteWorkflow(workspaceId: string, canvasId: string, now: number): Promise<boolean>;
  /** Returns the stored value of `key`, storing `value` first if there is none (race-safe). */
  setting(key: string, value: string): Promise<string>;
}

/** Executions: accepted in batches, read, ended, replayed; idempotency keys. */
export interface RunStore {
  /**
   * Commits a batch of triggers in one transaction: each run with its nodes, key,
   * webhook call and events. One item's conflict or failure never fails its neighbours: outcomes
   * come back one per item, in order, an item that could not be written as `{type: 'error'}`.
   */
  acceptMany(items: readonly AcceptItem[]): Promise<AcceptOutcome[]>;
  getExecution(workspaceId: string, executionId: string): Promise<ExecutionRecord | undefined>;
  /** For the engine only: no tenancy check, the worker already holds a lease on one of its nodes. */
  loadExecution(executionId: string): Promise<ExecutionRecord | undefined>;
  listExecutions(q: ListExecutionsQuery): Promise<ExecutionRecord[]>;
  /** How many executions match, per status, each count stopping at `cap` (so it stays cheap on huge histories). */
  countExecutions(q: Omit<ListExecutionsQuery, 'status' | 'cursor' | 'limit'>, cap: number): Promise<Record<ExecutionStatus, number>>;
  listNodes(executionId: string): Promise<NodeRecord[]>;
  listAttempts(executionId: string): Promise<AttemptRecord[]>;
  /** Ends a live execution as failed with `code` (abort, timeout). False if it was already terminal. */
  terminateExecution(executionId: string, code: ErrorCode, message: string, now: number): Promise<boolean>;
  /** Resumes a failed execution from its failed nodes; false if it is not failed. */
  retryExecution(executionId: string, now: number, deadlineAt: number, rules: Pick<SchedulingRules, 'advance'>): Promise<boolean>;
  /** Ends every live execution whose deadline passed; returns their ids. */
  timeOutExecutions(now: number): Promise<string[]>;
  deleteExpiredIdempotencyKeys(now: number): Promise<number>;
}

/** The node queue the workers share: turns, leases and the backlog. */
export interface QueueStore {
  /**
   * One worker turn in one transaction: applies each completion (lease-checked; a lost lease writes
   * nothing), records response shapes, releases or skips what the rules say, ends finished runs,
   * writes their events, then leases up to `turn.claim` runnable nodes and returns each with its
   * execution and the outputs of its run's ended nodes.
   */
  settleAndClaim(turn: Turn, rules: SchedulingRules): Promise<TurnOutcome>;
  /**
   * Extends the leases `workerId` still holds on nodes of `executionIds` (the runs of its nodes in
   * flight); returns the keys (`executionId/nodeId`) it still holds there.
   */
  heartbeat(workerId: string, executionIds: readonly string[], now: number, leaseMs: number): Promise<Set<string>>;
  /** Makes nodes whose lease expired runnable again (their worker died); returns how many. */
  requeueExpiredLeases(now: number): Promise<number>;
  /** Gives back every lease `workerId` holds, for shutdown or a single-process restart. */
  releaseLeases(workerId: string | null, now: number): Promise<number>;
  /** Both backlog counts, whole (for metrics, read when scraped). */
  backlog(now: number): Promise<Backlog>;
  /**
   * Accepted executions no worker has started yet, counted up to `cap`: what the backlog bound reads
   * four times a second while triggers arrive, so it walks no more index entries than the bound.
   */
  pendingExecutions(cap: number): Promise<number>;
}

/** Uploaded and produced files (their metadata; the bytes live in FileStorage). */
export interface FileStore {
  createFile(f: FileRecord): Promise<void>;
  /** The workspace's files among `fileKeys` that have not expired at `now`. */
  getFiles(workspaceId: string, fileKeys: string[], now: number): Promise<FileRecord[]>;
  /** For signed download links: by key alone, the link's signature is the credential. */
  getFile(fileKey: string): Promise<FileRecord | undefined>;
  /** Files referenced by an execution live as long as it does: their expiry is cleared. */
  pinFiles(workspaceId: string, fileKeys: string[]): Promise<void>;
  listExecutionFiles(executionId: string): Promise<FileRecord[]>;
  /** Up to `limit` files whose expiry passed, for the sweeper. */
  expiredFiles(now: number, limit: number): Promise<FileRecord[]>;
  deleteFile(fileKey: string): Promise<void>;
}

/** Webhook triggers, their call history and their silence. */
export interface WebhookStore {
  /** The live webhook of a workflow is unique; false if the workflow already has one. */
  createWebhook(w: WebhookRecord): Promise<boolean>;
  /** By id alone: the id is the credential. Revoked (reset) webhooks are not found. */
  getWebhook(webhookId: string): Promise<WebhookRecord | undefined>;
  getWebhookForWorkflow(workspaceId: string, canvasId: string): Promise<WebhookRecord | undefined>;
  updateWebhook(workspaceId: string, webhookId: string, patch: WebhookPatch, now: number): Promise<WebhookRecord | undefined>;
  /** Revokes `webhookId` and creates `newId` with the same settings, in one transaction. */
  resetWebhook(workspaceId: string, webhookId: string, newId: string, now: number): Promise<WebhookRecord | undefined>;
  listWebhookCalls(webhookId: string, offset: number, limit: number): Promise<{ records: WebhookCallRecord[]; total: number }>;
  /** Enabled webhooks with `expectedEvery`, and when each last accepted a call (the silence check's input). */
  silenceWatch(): Promise<SilenceWatch[]>;
  /** Sets `silentAt` (guarded by the value read) and writes `event` with it; false if already flagged. */
  markSilent(webhookId: string, previousSilentAt: number | undefined, now: number, event: NewEvent): Promise<boolean>;
}

/** Outbound events: endpoints, and the delivery queue the dispatchers share. Events themselves are written by the transitions of the other areas, in their transactions. */
export interface OutboxStore {
  createEndpoint(e: EndpointRecord): Promise<void>;
  listEndpoints(workspaceId: string): Promise<EndpointRecord[]>;
  getEndpoint(workspaceId: string, id: string): Promise<EndpointRecord | undefined>;
  updateEndpoint(workspaceId: string, id: string, patch: EndpointPatch, now: number): Promise<EndpointRecord | undefined>;
  deleteEndpoint(workspaceId: string, id: string, now: number): Promise<boolean>;
  rotateEndpointSecret(workspaceId: string, id: string, secret: string, previousExpiresAt: number, now: number): Promise<EndpointRecord | undefined>;
  /** Leases up to `limit` due messages (ordered endpoints: only their oldest undelivered one). */
  claimMessages(workerId: string, limit: number, now: number, leaseMs: number): Promise<ClaimedMessage[]>;
  /** Records an attempt and its consequence; false if the lease was lost. May disable the endpoint. */
  completeMessage(input: CompleteMessageInput, rules: DeliveryRules): Promise<boolean>;
  /**
   * A dispatcher's turn in one transaction: records every finished delivery (`applied[i]` false when
   * its lease was lost), then claims up to `claim` due messages.
   */
  settleAndClaimMessages(turn: MessageTurn): Promise<{ applied: boolean[]; claimed: ClaimedMessage[] }>;
  deferMessage(messageId: string, workerId: string, attempt: number, runAt: number, now: number): Promise<boolean>;
  /** Re-queues in-flight messages: those `owner` holds, or those whose lease expired before `expiredBefore`. */
  requeueMessages(which: { owner: string } | { expiredBefore: number }, now: number): Promise<number>;
  listMessages(q: ListMessagesQuery): Promise<MessageWithAttempts[]>;
  /** Queues `event` for one enabled endpoint whatever its subscriptions (a test send); the message id or why not. */
  enqueueForEndpoint(endpointId: string, event: NewEvent): Promise<string | 'not_found' | 'endpoint_disabled'>;
  listExecutionMessages(executionId: string): Promise<MessageWithAttempts[]>;
  replayMessage(workspaceId: string, messageId: string, now: number): Promise<ReplayOutcome>;
  /** How many failed or skipped messages since `since` were re-queued, or why none could be. */
  recoverMessages(workspaceId: string, endpointId: string, since: number, now: number): Promise<number | Exclude<ReplayOutcome, 'replayed' | 'in_flight'>>;
}

/**
 * Persistence only: batch verbs grouped by area, composed into one object. Policy (what a turn
 * decides, which events exist, when an endpoint is disabled) lives with the callers in engine/,
 * delivery/ and runs/. Both SQLite and PostgreSQL implement it (src/store/sql).
 */
/** What a wake-up is about: nodes to run (workers) or event messages to send (dispatchers). */
export type WorkKind = 'nodes' | 'messages';

export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  /** Only one process uses this database (SQLite): leases left at start belong to a dead process. */
  readonly singleProcess: boolean;
  migrate(): Promise<void>;
  close(): Promise<void>;
  /**
   * Calls `wake` whenever a commit queued work of this kind: runnable nodes for workers, due
   * messages for event dispatchers (PostgreSQL LISTEN/NOTIFY across processes; in-process on
   * SQLite). Only an optimisation: both also poll, so a lost wake-up delays work and never loses
   * it. Returns the unsubscribe function.
   */
  subscribeWork(kind: WorkKind, wake: () => void): Promise<() => Promise<void>>;
  ping(): Promise<boolean>;
  /**
   * Gathers planner statistics for this store's tables that hold rows but were never analysed, and
   * returns their names: PostgreSQL, where autovacuum's first ANALYZE comes a minute or more after a
   * table fills (a restore, an import). Nothing on SQLite, whose statements are written for a planner
   * without statistics.
   */
  analyzeNewTables(): Promise<string[]>;
  readonly catalog: CatalogStore;
  readonly runs: RunStore;
  readonly queue: QueueStore;
  readonly files: FileStore;
  readonly webhooks: WebhookStore;
  readonly outbox: OutboxStore;
}

export interface SilenceWatch {
  webhookId: string;
  workspaceId: string;
  canvasId: string;
  /** Seconds. */
  expectedEvery: number;
  updatedAt: number;
  silentAt?: number;
  lastCallAt?: number;
}

export type MessageWithAttempts = MessageRecord & { attemptLog: MessageAttemptRecord[] };
export type ReplayOutcome = 'replayed' | 'in_flight' | 'not_found' | 'endpoint_disabled';

export const TERMINAL_EXECUTION: ReadonlySet<ExecutionStatus> = new Set(['finish', 'failed']);
export const TERMINAL_NODE: ReadonlySet<NodeStatus> = new Set(['finish', 'failed', 'skipped']);
export const nodeKey = (executionId: string, nodeId: string): string => `${executionId}/${nodeId}`;
