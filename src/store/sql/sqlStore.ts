import type { Kysely } from 'kysely';
import type { CatalogStore, FileStore, OutboxStore, QueueStore, RunStore, Store, WebhookStore, WorkKind } from '../store.ts';
import { acceptMany } from './acceptStatement.ts';
import * as catalog from './catalog.ts';
import * as deliveries from './deliveries.ts';
import * as endpoints from './endpoints.ts';
import * as executions from './executions.ts';
import * as files from './files.ts';
import { ListenerCache } from './listenerCache.ts';
import type { BackendProfile } from './profile.ts';
import * as scheduling from './scheduling.ts';
import { enqueueForEndpoint } from './outbox.ts';
import { settleAndClaim } from './settle.ts';
import type { Tables } from './tables.ts';
import { listenLocally } from './notify.ts';
import { transaction } from './tx.ts';
import * as webhooks from './webhooks.ts';

/**
 * The Store over Kysely, shared by both dialects: each area binds the verbs of its modules to this
 * database. Dialect differences come in through the BackendProfile and the `migrate`/`close` hooks
 * the dialect's `open` function supplies.
 */
export class SqlStore implements Store {
  readonly kind: BackendProfile['kind'];
  readonly singleProcess: boolean;
  readonly catalog: CatalogStore;
  readonly runs: RunStore;
  readonly queue: QueueStore;
  readonly files: FileStore;
  readonly webhooks: WebhookStore;
  readonly outbox: OutboxStore;

  constructor(
    private readonly db: Kysely<Tables>,
    profile: BackendProfile,
    private readonly hooks: {
      migrate(): Promise<void>;
      close(): Promise<void>;
      subscribeWork?(kind: WorkKind, wake: () => void): Promise<() => Promise<void>>;
      analyzeNewTables?(): Promise<string[]>;
    },
    /** Where worker and dispatcher turns run: PostgreSQL gives them connections of their own (postgres/open.ts). */
    queueDb: Kysely<Tables> = db,
  ) {
    this.kind = profile.kind;
    this.singleProcess = profile.singleProcess;
    // The endpoints PostgreSQL accepts fan their events out to, checked by each accept statement.
    const listeners = new ListenerCache();
    this.catalog = {
      ensureWorkspace: (id, now) => catalog.ensureWorkspace(db, id, now),
      createWorkspace: (w) => catalog.createWorkspace(db, w),
      getWorkspace: (id) => catalog.getWorkspace(db, id),
      listWorkspaces: (q) => catalog.listWorkspaces(db, q),
      updateWorkspace: (id, patch) => catalog.updateWorkspace(db, id, patch),
      createApiKey: (k) => catalog.createApiKey(db, k),
      findApiKeyByHash: (hash) => catalog.findApiKeyByHash(db, hash),
      listApiKeys: (ws) => catalog.listApiKeys(db, ws),
      deleteApiKey: (ws, id) => catalog.deleteApiKey(db, ws, id),
      countApiKeys: () => catalog.countApiKeys(db),
      createWorkflow: (ws, id, def, now) => catalog.createWorkflow(db, ws, id, def, now),
      updateWorkflow: (ws, id, def, now) => catalog.updateWorkflow(db, ws, id, def, now),
      getWorkflow: (ws, id) => catalog.getWorkflow(db, ws, id),
      getWorkflowVersion: (ws, id, version) => catalog.getWorkflowVersion(db, ws, id, version),
      listWorkflows: (ws, q) => catalog.listWorkflows(db, ws, q),
      deleteWorkflow: (ws, id, now) => catalog.deleteWorkflow(db, ws, id, now),
      setting: (key, value) => files.setting(db, key, value),
    };
    this.runs = {
      acceptMany: (items) => acceptMany(db, profile, items, listeners),
      getExecution: (ws, id) => executions.getExecution(db, profile, ws, id),
      loadExecution: (id) => executions.loadExecution(db, id),
      listExecutions: (q) => executions.listExecutions(db, q),
      countExecutions: (q, cap) => executions.countExecutions(db, q, cap),
      listNodes: (id) => executions.listNodes(db, profile, id),
      listAttempts: (id) => executions.listAttempts(db, profile, id),
      terminateExecution: (id, code, msg, now) => executions.terminateExecution(db, profile, id, code, msg, now),
      retryExecution: (id, now, deadlineAt, rules) => scheduling.retryExecution(db, profile, id, now, deadlineAt, rules),
      timeOutExecutions: (now) => executions.timeOutExecutions(db, profile, now),
      deleteExpiredIdempotencyKeys: (now) => executions.deleteExpiredIdempotencyKeys(db, now),
    };
    this.queue = {
      settleAndClaim: (turn, rules) => settleAndClaim(queueDb, profile, turn, rules),
      heartbeat: (w, executionIds, now, leaseMs) => scheduling.heartbeat(db, profile, w, executionIds, now, leaseMs),
      requeueExpiredLeases: (now) => scheduling.requeueExpiredLeases(db, profile, now),
      releaseLeases: (w, now) => scheduling.releaseLeases(db, profile, w, now),
      backlog: (now) => scheduling.backlog(db, now),
      pendingExecutions: (cap) => scheduling.pendingExecutions(db, profile, cap),
    };
    this.files = {
      createFile: (f) => files.createFile(db, f),
      getFiles: (ws, keys, now) => files.getFiles(db, ws, keys, now),
      getFile: (key) => files.getFile(db, key),
      pinFiles: (ws, keys) => files.pinFiles(db, ws, keys),
      listExecutionFiles: (id) => files.listExecutionFiles(db, id),
      expiredFiles: (now, limit) => files.expiredFiles(db, now, limit),
      deleteFile: (key) => files.deleteFile(db, key),
    };
    this.webhooks = {
      createWebhook: (w) => webhooks.createWebhook(db, profile, w),
      getWebhook: (id) => webhooks.getWebhook(db, id),
      getWebhookForWorkflow: (ws, canvasId) => webhooks.getWebhookForWorkflow(db, ws, canvasId),
      updateWebhook: (ws, id, patch, now) => webhooks.updateWebhook(db, ws, id, patch, now),
      resetWebhook: (ws, id, newId, now) => webhooks.resetWebhook(db, ws, id, newId, now),
      listWebhookCalls: (id, offset, limit) => webhooks.listWebhookCalls(db, id, offset, limit),
      silenceWatch: () => webhooks.silenceWatch(db),
      markSilent: (id, previous, now, event) => webhooks.markSilent(db, profile, id, previous, now, event),
    };
    this.outbox = {
      createEndpoint: (e) => endpoints.createEndpoint(db, e),
      listEndpoints: (ws) => endpoints.listEndpoints(db, ws),
      getEndpoint: (ws, id) => endpoints.getEndpoint(db, ws, id),
      updateEndpoint: (ws, id, p, now) => endpoints.updateEndpoint(db, ws, id, p, now),
      deleteEndpoint: (ws, id, now) => endpoints.deleteEndpoint(db, ws, id, now),
      rotateEndpointSecret: (ws, id, secret, until, now) => endpoints.rotateEndpointSecret(db, ws, id, secret, until, now),
      claimMessages: (w, limit, now, leaseMs) => deliveries.claimMessages(db, profile, w, limit, now, leaseMs),
      completeMessage: (input, rules) => deliveries.completeMessage(db, profile, input, rules),
      settleAndClaimMessages: (turn) => deliveries.settleAndClaimMessages(queueDb, profile, turn),
      deferMessage: (id, w, attempt, runAt, now) => deliveries.deferMessage(db, id, w, attempt, runAt, now),
      requeueMessages: (which, now) => deliveries.requeueMessages(db, which, now),
      listMessages: (q) => deliveries.listMessages(db, q),
      enqueueForEndpoint: (id, event) => transaction(db, (trx) => enqueueForEndpoint(trx, profile, id, event)),
      listExecutionMessages: (executionId) => deliveries.listExecutionMessages(db, executionId),
      replayMessage: (ws, id, now) => deliveries.replayMessage(db, profile, ws, id, now),
      recoverMessages: (ws, endpointId, since, now) => deliveries.recoverMessages(db, profile, ws, endpointId, since, now),
    };
  }

  migrate = () => this.hooks.migrate();
  subscribeWork = (kind: WorkKind, wake: () => void) => this.hooks.subscribeWork?.(kind, wake) ?? Promise.resolve(listenLocally(this.db, kind, wake));
  close = () => this.hooks.close();
  analyzeNewTables = () => this.hooks.analyzeNewTables?.() ?? Promise.resolve([]);
  async ping(): Promise<boolean> {
    try {
      await this.db.selectFrom('workspaces').select('id').limit(1).execute();
      return true;
    } catch {
      return false;
    }
  }
}
