import type { Kysely } from 'kysely';
import type { ErrorCode } from '../../errors.ts';
import type { NewEvent } from '../delivery.ts';
import type { BodyMode, ExecutionStatus, SilenceWatch, WebhookCallRecord, WebhookDedupe, WebhookPatch, WebhookRecord } from '../store.ts';
import { writeEvents } from './outbox.ts';
import type { BackendProfile } from './profile.ts';
import { fromJson, toJson } from './rows.ts';
import type { Tables, WebhooksTable } from './tables.ts';
import { transaction } from './tx.ts';

/** Webhook triggers and their call history. */
type Db = Kysely<Tables>;

const toWebhook = (r: WebhooksTable): WebhookRecord => ({
  webhookId: r.id,
  workspaceId: r.workspace_id,
  canvasId: r.workflow_id,
  enabled: Number(r.enabled) === 1,
  timeout: Number(r.timeout_s),
  bodyMode: r.body_mode as BodyMode,
  rawVariable: r.raw_variable ?? undefined,
  signature: fromJson(r.signature),
  rateLimit: fromJson(r.rate_limit),
  expectedEvery: r.expected_every_s === null ? undefined : Number(r.expected_every_s),
  forwardHeaders: fromJson<string[]>(r.forward_headers),
  dedupe: fromJson<WebhookDedupe>(r.dedupe),
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
});

const toRow = (w: WebhookRecord): WebhooksTable => ({
  id: w.webhookId,
  workspace_id: w.workspaceId,
  workflow_id: w.canvasId,
  enabled: w.enabled ? 1 : 0,
  timeout_s: w.timeout,
  body_mode: w.bodyMode,
  raw_variable: w.rawVariable ?? null,
  signature: toJson(w.signature),
  rate_limit: toJson(w.rateLimit),
  expected_every_s: w.expectedEvery ?? null,
  created_at: w.createdAt,
  updated_at: w.updatedAt,
  revoked_at: null,
  silent_at: null,
  forward_headers: toJson(w.forwardHeaders),
  dedupe: toJson(w.dedupe),
});

export async function createWebhook(db: Db, profile: BackendProfile, w: WebhookRecord): Promise<boolean> {
  try {
    await db.insertInto('webhooks').values(toRow(w)).execute();
    return true;
  } catch (e) {
    if (profile.isUniqueViolation(e)) return false;
    throw e;
  }
}

export async function getWebhook(db: Db, id: string): Promise<WebhookRecord | undefined> {
  const r = await db.selectFrom('webhooks').selectAll().where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
  return r && toWebhook(r);
}

export async function getWebhookForWorkflow(db: Db, workspaceId: string, canvasId: string): Promise<WebhookRecord | undefined> {
  const r = await db
    .selectFrom('webhooks')
    .selectAll()
    .where('workspace_id', '=', workspaceId)
    .where('workflow_id', '=', canvasId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return r && toWebhook(r);
}

export async function updateWebhook(db: Db, workspaceId: string, id: string, patch: WebhookPatch, now: number): Promise<WebhookRecord | undefined> {
  const set: Partial<WebhooksTable> = { updated_at: now };
  if (patch.enabled !== undefined) set.enabled = patch.enabled ? 1 : 0;
  if (patch.timeout !== undefined) set.timeout_s = patch.timeout;
  if (patch.bodyMode !== undefined) set.body_mode = patch.bodyMode;
  if (patch.rawVariable !== undefined) set.raw_variable = patch.rawVariable;
  if (patch.signature !== undefined) set.signature = toJson(patch.signature ?? undefined);
  if (patch.rateLimit !== undefined) set.rate_limit = toJson(patch.rateLimit);
  if (patch.expectedEvery !== undefined) set.expected_every_s = patch.expectedEvery;
  if (patch.forwardHeaders !== undefined) set.forward_headers = toJson(patch.forwardHeaders);
  if (patch.dedupe !== undefined) set.dedupe = toJson(patch.dedupe ?? undefined);
  const r = await db
    .updateTable('webhooks')
    .set(set)
    .where('id', '=', id)
    .where('workspace_id', '=', workspaceId)
    .where('revoked_at', 'is', null)
    .returningAll()
    .executeTakeFirst();
  return r && toWebhook(r);
}

export function resetWebhook(db: Db, workspaceId: string, id: string, newId: string, now: number): Promise<WebhookRecord | undefined> {
  return transaction(db, async (trx) => {
    const old = await trx
      .updateTable('webhooks')
      .set({ revoked_at: now, enabled: 0 })
      .where('id', '=', id)
      .where('workspace_id', '=', workspaceId)
      .where('revoked_at', 'is', null)
      .returningAll()
      .executeTakeFirst();
    if (!old) return undefined;
    const fresh: WebhookRecord = { ...toWebhook(old), webhookId: newId, enabled: true, createdAt: now, updatedAt: now };
    await trx.insertInto('webhooks').values(toRow(fresh)).execute();
    return fresh;
  });
}

export async function listWebhookCalls(db: Db, webhookId: string, offset: number, limit: number): Promise<{ records: WebhookCallRecord[]; total: number }> {
  const [rows, count] = await Promise.all([
    db
      .selectFrom('webhook_calls as c')
      .leftJoin('executions as e', 'e.id', 'c.execution_id')
      .selectAll('c')
      .select(['e.status as execution_status', 'e.finished_at as execution_finished_at', 'e.err_msg as execution_err_msg'])
      .where('c.webhook_id', '=', webhookId)
      .orderBy('c.id', 'desc')
      .offset(offset)
      .limit(limit)
      .execute(),
    db.selectFrom('webhook_calls').where('webhook_id', '=', webhookId).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return {
    records: rows.map((r) => ({
      recordId: r.id,
      webhookId: r.webhook_id,
      status: r.status as WebhookCallRecord['status'],
      httpStatus: Number(r.http_status),
      errCode: (r.err_code ?? undefined) as ErrorCode | undefined,
      executionId: r.execution_id ?? undefined,
      responseTime: Number(r.response_ms),
      sourceIp: r.source_ip ?? undefined,
      bodySize: Number(r.body_size),
      duplicate: Number(r.duplicate) === 1,
      createdAt: Number(r.created_at),
      execution: r.execution_status
        ? {
            status: r.execution_status as ExecutionStatus,
            finishedAt: r.execution_finished_at === null ? undefined : Number(r.execution_finished_at),
            errMsg: r.execution_err_msg ?? undefined,
          }
        : undefined,
    })),
    total: Number(count.n),
  };
}

/** Enabled webhooks with `expectedEvery`, with when each last accepted a call: what the silence check reads. */
export async function silenceWatch(db: Db): Promise<SilenceWatch[]> {
  const rows = await db
    .selectFrom('webhooks as w')
    .select((eb) => [
      'w.id',
      'w.workspace_id',
      'w.workflow_id',
      'w.expected_every_s',
      'w.updated_at',
      'w.silent_at',
      eb
        .selectFrom('webhook_calls as c')
        .select('c.created_at')
        .whereRef('c.webhook_id', '=', 'w.id')
        .where('c.status', '=', 'accepted')
        .orderBy('c.id', 'desc')
        .limit(1)
        .as('last_call_at'),
    ])
    .where('w.expected_every_s', 'is not', null)
    .where('w.revoked_at', 'is', null)
    .where('w.enabled', '=', 1)
    .execute();
  return rows.map((r) => ({
    webhookId: r.id,
    workspaceId: r.workspace_id,
    canvasId: r.workflow_id,
    expectedEvery: Number(r.expected_every_s),
    updatedAt: Number(r.updated_at),
    silentAt: r.silent_at === null ? undefined : Number(r.silent_at),
    lastCallAt: r.last_call_at === null || r.last_call_at === undefined ? undefined : Number(r.last_call_at),
  }));
}

/**
 * Marks a webhook silent and writes its event, once: the update is guarded by the `silentAt` the
 * caller read, so two processes checking at once emit one event. False if another got there first.
 */
export function markSilent(db: Db, profile: BackendProfile, webhookId: string, previousSilentAt: number | undefined, now: number, event: NewEvent): Promise<boolean> {
  return transaction(db, async (trx) => {
    let q = trx.updateTable('webhooks').set({ silent_at: now }).where('id', '=', webhookId);
    q = previousSilentAt === undefined ? q.where('silent_at', 'is', null) : q.where('silent_at', '=', previousSilentAt);
    if (Number((await q.executeTakeFirst()).numUpdatedRows) !== 1) return false;
    await writeEvents(trx, profile, [event]);
    return true;
  });
}
