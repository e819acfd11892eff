import type { Kysely } from 'kysely';
import type { ErrorCode } from '../../errors.ts';
import type { WorkflowDefinition } from '../../workflows/definition.ts';
import type {
  AcceptItem,
  ApiKeyRecord,
  FileRecord,
  ListExecutionsQuery,
  ListWorkflowsQuery,
  SchedulingRules,
  Store,
  Turn,
  WebhookPatch,
  WebhookRecord,
  WorkspaceRecord,
} from '../store.ts';
import { acceptMany } from './accept.ts';
import { settleAndClaim } from './settle.ts';
import * as catalog from './catalog.ts';
import * as deliveries from './deliveries.ts';
import * as endpoints from './endpoints.ts';
import * as executions from './executions.ts';
import * as files from './files.ts';
import type { BackendProfile } from './profile.ts';
import * as scheduling from './scheduling.ts';
import * as webhooks from './webhooks.ts';
import type { Tables } from './tables.ts';
import type { CompleteMessageInput, EndpointPatch, EndpointRecord, ListMessagesQuery, MessageTurn } from '../delivery.ts';

/**
 * The Store over Kysely, shared by both dialects. Dialect differences come in through the
 * BackendProfile and the `migrate`/`close` hooks the dialect's `open` function supplies.
 */
export class SqlStore implements Store {
  readonly kind: BackendProfile['kind'];
  readonly singleProcess: boolean;

  constructor(
    private readonly db: Kysely<Tables>,
    private readonly profile: BackendProfile,
    private readonly hooks: { migrate(): Promise<void>; close(): Promise<void>; subscribeWork?(wake: () => void): Promise<() => Promise<void>> },
  ) {
    this.kind = profile.kind;
    this.singleProcess = profile.singleProcess;
  }

  migrate = () => this.hooks.migrate();
  subscribeWork = (wake: () => void) => this.hooks.subscribeWork?.(wake) ?? Promise.resolve(async () => {});
  close = () => this.hooks.close();
  async ping(): Promise<boolean> {
    try {
      await this.db.selectFrom('workspaces').select('id').limit(1).execute();
      return true;
    } catch {
      return false;
    }
  }

  ensureWorkspace = (id: string, now: number) => catalog.ensureWorkspace(this.db, id, now);
  createWorkspace = (w: WorkspaceRecord) => catalog.createWorkspace(this.db, w);
  getWorkspace = (id: string) => catalog.getWorkspace(this.db, id);
  listWorkspaces = (q: { offset: number; limit: number }) => catalog.listWorkspaces(this.db, q);
  updateWorkspace = (id: string, patch: { name?: string; disabledAt?: number | null }) => catalog.updateWorkspace(this.db, id, patch);
  createApiKey = (k: ApiKeyRecord) => catalog.createApiKey(this.db, k);
  findApiKeyByHash = (hash: string) => catalog.findApiKeyByHash(this.db, hash);
  listApiKeys = (ws: string) => catalog.listApiKeys(this.db, ws);
  deleteApiKey = (ws: string, id: string) => catalog.deleteApiKey(this.db, ws, id);
  countApiKeys = () => catalog.countApiKeys(this.db);

  createWorkflow = (ws: string, id: string, def: WorkflowDefinition, now: number) => catalog.createWorkflow(this.db, ws, id, def, now);
  updateWorkflow = (ws: string, id: string, def: WorkflowDefinition, now: number) => catalog.updateWorkflow(this.db, ws, id, def, now);
  getWorkflow = (ws: string, id: string) => catalog.getWorkflow(this.db, ws, id);
  getWorkflowVersion = (ws: string, id: string, version: number) => catalog.getWorkflowVersion(this.db, ws, id, version);
  listWorkflows = (ws: string, q: ListWorkflowsQuery) => catalog.listWorkflows(this.db, ws, q);
  deleteWorkflow = (ws: string, id: string, now: number) => catalog.deleteWorkflow(this.db, ws, id, now);

  acceptMany = (items: readonly AcceptItem[]) => acceptMany(this.db, this.profile, items);
  getExecution = (ws: string, id: string) => executions.getExecution(this.db, ws, id);
  loadExecution = (id: string) => executions.loadExecution(this.db, id);
  listExecutions = (q: ListExecutionsQuery) => executions.listExecutions(this.db, q);
  listNodes = (id: string) => executions.listNodes(this.db, id);
  listAttempts = (id: string) => executions.listAttempts(this.db, id);
  terminateExecution = (id: string, code: ErrorCode, msg: string, now: number) => executions.terminateExecution(this.db, this.profile, id, code, msg, now);
  timeOutExecutions = (now: number) => executions.timeOutExecutions(this.db, this.profile, now);
  createFile = (f: FileRecord) => files.createFile(this.db, f);
  getFiles = (ws: string, keys: string[], now: number) => files.getFiles(this.db, ws, keys, now);
  getFile = (key: string) => files.getFile(this.db, key);
  pinFiles = (ws: string, keys: string[]) => files.pinFiles(this.db, ws, keys);
  listExecutionFiles = (id: string) => files.listExecutionFiles(this.db, id);
  expiredFiles = (now: number, limit: number) => files.expiredFiles(this.db, now, limit);
  deleteFile = (key: string) => files.deleteFile(this.db, key);
  setting = (key: string, value: string) => files.setting(this.db, key, value);
  deleteExpiredIdempotencyKeys = (now: number) => executions.deleteExpiredIdempotencyKeys(this.db, now);

  createWebhook = (w: WebhookRecord) => webhooks.createWebhook(this.db, this.profile, w);
  getWebhook = (id: string) => webhooks.getWebhook(this.db, id);
  getWebhookForWorkflow = (ws: string, canvasId: string) => webhooks.getWebhookForWorkflow(this.db, ws, canvasId);
  updateWebhook = (ws: string, id: string, patch: WebhookPatch, now: number) => webhooks.updateWebhook(this.db, ws, id, patch, now);
  resetWebhook = (ws: string, id: string, newId: string, now: number) => webhooks.resetWebhook(this.db, ws, id, newId, now);
  listWebhookCalls = (id: string, offset: number, limit: number) => webhooks.listWebhookCalls(this.db, id, offset, limit);

  retryExecution = (id: string, now: number, deadlineAt: number, rules: Pick<SchedulingRules, 'advance'>) =>
    scheduling.retryExecution(this.db, this.profile, id, now, deadlineAt, rules);
  settleAndClaim = (turn: Turn, rules: SchedulingRules) => settleAndClaim(this.db, this.profile, turn, rules);
  heartbeat = (w: string, now: number, leaseMs: number) => scheduling.heartbeat(this.db, w, now, leaseMs);
  requeueExpiredLeases = (now: number) => scheduling.requeueExpiredLeases(this.db, this.profile, now);
  releaseLeases = (w: string | null, now: number) => scheduling.releaseLeases(this.db, this.profile, w, now);
  backlog = (now: number) => scheduling.backlog(this.db, now);

  createEndpoint = (e: EndpointRecord) => endpoints.createEndpoint(this.db, e);
  listEndpoints = (ws: string) => endpoints.listEndpoints(this.db, ws);
  getEndpoint = (ws: string, id: string) => endpoints.getEndpoint(this.db, ws, id);
  updateEndpoint = (ws: string, id: string, p: EndpointPatch, now: number) => endpoints.updateEndpoint(this.db, ws, id, p, now);
  deleteEndpoint = (ws: string, id: string, now: number) => endpoints.deleteEndpoint(this.db, ws, id, now);
  rotateEndpointSecret = (ws: string, id: string, secret: string, until: number, now: number) => endpoints.rotateEndpointSecret(this.db, ws, id, secret, until, now);
  claimMessages = (w: string, limit: number, now: number, leaseMs: number) => deliveries.claimMessages(this.db, this.profile, w, limit, now, leaseMs);
  completeMessage = (input: CompleteMessageInput) => deliveries.completeMessage(this.db, this.profile, input);
  settleAndClaimMessages = (turn: MessageTurn) => deliveries.settleAndClaimMessages(this.db, this.profile, turn);
  deferMessage = (id: string, w: string, attempt: number, runAt: number, now: number) => deliveries.deferMessage(this.db, id, w, attempt, runAt, now);
  requeueMessages = (which: { owner: string } | { expiredBefore: number }, now: number) => deliveries.requeueMessages(this.db, which, now);
  listMessages = (q: ListMessagesQuery) => deliveries.listMessages(this.db, q);
  listExecutionMessages = (executionId: string) => deliveries.listExecutionMessages(this.db, executionId);
  replayMessage = (ws: string, id: string, now: number) => deliveries.replayMessage(this.db, ws, id, now);
  recoverMessages = (ws: string, endpointId: string, since: number, now: number) => deliveries.recoverMessages(this.db, ws, endpointId, since, now);
  flagSilentWebhooks = (now: number) => deliveries.flagSilentWebhooks(this.db, this.profile, now);
}
