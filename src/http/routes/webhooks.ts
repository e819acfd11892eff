import { Type } from 'typebox';
import { ERRORS, failure, FlowgateError, type Failure } from '../../errors.ts';
import { isWebhookId, newWebhookCallId, newWebhookId } from '../../ids.ts';
import { dedupeKeyError } from '../../ingest/dedupe.ts';
import { acceptWebhookCall, NEVER_FORWARDED } from '../../ingest/webhookCall.ts';
import { SIGNATURE_SCHEMES } from '../../ingest/verifiers.ts';
import { executionOutput } from '../output.ts';
import { iso } from '../../runs/views.ts';
import { waitForTerminal } from '../../runs/wait.ts';
import type { WebhookCallRecord, WebhookPatch, WebhookRecord } from '../../store/store.ts';
import type { FastifyRequest } from 'fastify';
import type { App, AppDeps } from '../app.ts';
import { sendFailure, sendOk } from '../envelope.ts';
import { AnyObject, clampPageSize, Envelope, errorResponses, IdempotencyHeader, plainJsonSerializer, ReflyPageSize } from '../schemas.ts';

const WebhookSettings = {
  timeout: Type.Optional(Type.Integer({ minimum: 0, maximum: 60, description: 'Seconds to wait for the run before answering (0: answer at once)' })),
  bodyMode: Type.Optional(Type.Union([Type.Literal('variables'), Type.Literal('raw')], { description: '`variables`: body is {"variables": {...}}; `raw`: the whole body goes into `rawVariable`' })),
  rawVariable: Type.Optional(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_-]{0,63}$' })),
  signature: Type.Optional(
    Type.Union([
      Type.Null(),
      Type.Object(
        {
          scheme: Type.Union(SIGNATURE_SCHEMES.map((s) => Type.Literal(s))),
          secret: Type.String({ minLength: 8, maxLength: 512 }),
          header: Type.Optional(Type.String({ maxLength: 100, description: 'hmac-sha256 only; default X-Signature' })),
        },
        { additionalProperties: false },
      ),
    ]),
  ),
  rateLimit: Type.Optional(
    Type.Object(
      { perMinute: Type.Optional(Type.Integer({ minimum: 1 })), perDay: Type.Optional(Type.Integer({ minimum: 1 })) },
      { additionalProperties: false },
    ),
  ),
  expectedEvery: Type.Optional(Type.Integer({ minimum: 1, description: 'Seconds; a longer silence is an incident (webhook.silent)' })),
  dedupe: Type.Optional(
    Type.Union([
      Type.Null(),
      Type.Object(
        {
          key: Type.String({ minLength: 1, maxLength: 500, description: 'A preset (stripe, github, standard-webhooks), a JSON pointer into the body (/data/id), or JSONata over {body, headers}' }),
          windowHours: Type.Optional(Type.Integer({ minimum: 1, maximum: 720, description: 'How long a key is remembered (default 72)' })),
        },
        { additionalProperties: false },
      ),
    ]),
  ),
  forwardHeaders: Type.Optional(
    Type.Array(Type.String({ pattern: "^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$" }), {
      maxItems: 20,
      description: 'Request headers runs see as `trigger.headers` (default: the signature scheme\'s event headers, e.g. X-GitHub-Event). Credentials and signatures are never passed on',
    }),
  ),
};
const WebhookIdBody = { webhookId: Type.String({ maxLength: 64 }) };

/**
 * A webhook call in the history, with Refly's field names and statuses (`apiId`, `workflowExecutionId`,
 * `requestUrl`, `requestMethod`, `status: pending | success | failed`, `failureReason`, `completedAt`)
 * and Flowgate's beside them (`webhookId`, `executionId`, `callStatus: accepted | duplicate | rejected`,
 * `errCode`, `duplicate`, `sourceIp`, `bodySize`). Refly's `status` follows the run the call started:
 * pending while it runs, then success or failed; a rejected call is failed with its reason.
 */
function callView(c: WebhookCallRecord, w: WebhookRecord, base: string) {
  const e = c.execution;
  const status = c.status === 'rejected' || e?.status === 'failed' ? 'failed' : e?.status === 'finish' ? 'success' : 'pending';
  const failureReason = c.status === 'rejected' ? (c.errCode ? `${c.errCode}: ${ERRORS[c.errCode].message}` : `HTTP ${c.httpStatus}`) : e?.status === 'failed' ? e.errMsg : undefined;
  return {
    recordId: c.recordId,
    apiId: c.webhookId,
    webhookId: c.webhookId,
    canvasId: w.canvasId,
    workflowExecutionId: c.executionId,
    executionId: c.executionId,
    requestUrl: `${base}/v1/openapi/webhook/${c.webhookId}/run`,
    requestMethod: 'POST',
    httpStatus: c.httpStatus,
    responseTime: Math.round(c.responseTime),
    status,
    callStatus: c.status,
    failureReason,
    errCode: c.errCode,
    duplicate: c.duplicate,
    sourceIp: c.sourceIp,
    bodySize: c.bodySize,
    createdAt: iso(c.createdAt),
    completedAt: c.status === 'rejected' ? iso(c.createdAt + c.responseTime) : iso(e?.finishedAt),
  };
}

/** Secrets are write-only: config and responses show the scheme, never the secret. */
function webhookView(w: WebhookRecord, baseUrl: string) {
  return {
    webhookId: w.webhookId,
    webhookUrl: `${baseUrl}/v1/openapi/webhook/${w.webhookId}/run`,
    canvasId: w.canvasId,
    isEnabled: w.enabled,
    timeout: w.timeout,
    bodyMode: w.bodyMode,
    rawVariable: w.rawVariable,
    signature: w.signature ? { scheme: w.signature.scheme, header: w.signature.header, secretSet: true } : null,
    rateLimit: w.rateLimit ?? null,
    expectedEvery: w.expectedEvery ?? null,
    forwardHeaders: w.forwardHeaders ?? null,
    dedupe: w.dedupe ?? null,
    createdAt: new Date(w.createdAt).toISOString(),
    updatedAt: new Date(w.updatedAt).toISOString(),
  };
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The webhook a trigger call names, looked up before the body is read. */
    webhook?: WebhookRecord;
    /** What the webhook history records about this call, filled in as the call proceeds. */
    webhookCall?: { webhookId: string; recordId: string; executionId?: string; duplicate: boolean; recorded?: boolean; startedAt: number };
  }
}

/** Refly's webhook management paths (admin) and the public trigger. */
export const webhookRoutes = (deps: AppDeps) => async (app: App) => {
  const now = deps.now ?? Date.now;
  const tags = ['webhooks (Refly)'];
  const baseUrl = (req: { protocol: string; host: string }) => `${req.protocol}://${req.host}`;

  const checkSettings = async (ws: string, canvasId: string, s: WebhookPatch) => {
    const badKey = s.dedupe ? dedupeKeyError(s.dedupe.key) : undefined;
    if (badKey) throw new FlowgateError(failure('INVALID_REQUEST_BODY', `dedupe.key ${badKey}`));
    const secret = s.forwardHeaders?.find((h) => NEVER_FORWARDED.test(h));
    if (secret) throw new FlowgateError(failure('INVALID_REQUEST_BODY', `forwardHeaders: ${secret} carries a credential or signature and is never passed to runs`));
    if (s.bodyMode === 'raw') {
      if (!s.rawVariable) throw new FlowgateError(failure('INVALID_REQUEST_BODY', 'bodyMode "raw" needs rawVariable: the workflow variable that receives the body'));
      const wf = await deps.store.catalog.getWorkflow(ws, canvasId);
      if (!wf?.definition.variables?.some((v) => v.name === s.rawVariable)) {
        throw new FlowgateError(failure('INVALID_REQUEST_BODY', `The workflow has no variable "${s.rawVariable}" to receive the raw body`));
      }
    }
  };
  const patchFrom = (b: { isEnabled?: boolean } & WebhookPatch): WebhookPatch => ({
    enabled: b.isEnabled,
    timeout: b.timeout,
    bodyMode: b.bodyMode,
    rawVariable: b.rawVariable,
    signature: b.signature,
    rateLimit: b.rateLimit,
    expectedEvery: b.expectedEvery,
    forwardHeaders: b.forwardHeaders?.map((h) => h.toLowerCase()),
    dedupe: b.dedupe,
  });

  app.post(
    '/v1/webhook/enable',
    {
      config: { scope: 'admin' },
      schema: {
        tags,
        summary: "Enable a workflow's webhook (creates it on first use)",
        body: Type.Object({ canvasId: Type.String({ maxLength: 128 }), ...WebhookSettings }, { additionalProperties: false }),
        response: { 200: Envelope(AnyObject), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req, reply) => {
      const ws = req.apiKey.workspaceId;
      const { canvasId, ...settings } = req.body;
      if (!(await deps.store.catalog.getWorkflow(ws, canvasId))) throw new FlowgateError(failure('CANVAS_NOT_FOUND'));
      const existing = await deps.store.webhooks.getWebhookForWorkflow(ws, canvasId);
      const patch = { ...patchFrom(settings as WebhookPatch), enabled: true };
      await checkSettings(ws, canvasId, { bodyMode: patch.bodyMode ?? existing?.bodyMode, rawVariable: patch.rawVariable ?? existing?.rawVariable, forwardHeaders: patch.forwardHeaders, dedupe: patch.dedupe });
      if (existing) {
        const w = await deps.store.webhooks.updateWebhook(ws, existing.webhookId, patch, now());
        deps.webhooks.forget(existing.webhookId);
        return sendOk(req, reply, webhookView(w!, baseUrl(req)));
      }
      const t = now();
      const w: WebhookRecord = {
        webhookId: newWebhookId(),
        workspaceId: ws,
        canvasId,
        enabled: true,
        timeout: patch.timeout ?? 0,
        bodyMode: patch.bodyMode ?? 'variables',
        rawVariable: patch.rawVariable,
        signature: patch.signature ?? undefined,
        rateLimit: patch.rateLimit,
        expectedEvery: patch.expectedEvery,
        forwardHeaders: patch.forwardHeaders,
        dedupe: patch.dedupe ?? undefined,
        createdAt: t,
        updatedAt: t,
      };
      // Two concurrent enables: the unique index keeps one live webhook; the loser reads it back.
      if (!(await deps.store.webhooks.createWebhook(w))) return sendOk(req, reply, webhookView((await deps.store.webhooks.getWebhookForWorkflow(ws, canvasId))!, baseUrl(req)));
      return sendOk(req, reply, webhookView(w, baseUrl(req)));
    },
  );

  const update = async (ws: string, webhookId: string, patch: WebhookPatch) => {
    const current = await deps.store.webhooks.getWebhook(webhookId);
    if (!current || current.workspaceId !== ws) throw new FlowgateError(failure('WEBHOOK_NOT_FOUND'));
    await checkSettings(ws, current.canvasId, { bodyMode: patch.bodyMode ?? current.bodyMode, rawVariable: patch.rawVariable ?? current.rawVariable, forwardHeaders: patch.forwardHeaders, dedupe: patch.dedupe });
    const w = await deps.store.webhooks.updateWebhook(ws, webhookId, patch, now());
    deps.webhooks.forget(webhookId);
    if (!w) throw new FlowgateError(failure('WEBHOOK_NOT_FOUND'));
    return w;
  };

  app.post(
    '/v1/webhook/disable',
    { config: { scope: 'admin' }, schema: { tags, summary: 'Disable a webhook (calls get 403 WEBHOOK_DISABLED)', body: Type.Object(WebhookIdBody, { additionalProperties: false }) } },
    async (req, reply) => sendOk(req, reply, webhookView(await update(req.apiKey.workspaceId, req.body.webhookId, { enabled: false }), baseUrl(req))),
  );

  app.post(
    '/v1/webhook/update',
    {
      config: { scope: 'admin' },
      schema: { tags, summary: 'Change webhook settings', body: Type.Object({ ...WebhookIdBody, isEnabled: Type.Optional(Type.Boolean()), ...WebhookSettings }, { additionalProperties: false }) },
    },
    async (req, reply) => {
      const { webhookId, ...rest } = req.body;
      return sendOk(req, reply, webhookView(await update(req.apiKey.workspaceId, webhookId, patchFrom(rest as WebhookPatch)), baseUrl(req)));
    },
  );

  app.post(
    '/v1/webhook/reset',
    { config: { scope: 'admin' }, schema: { tags, summary: 'Replace the webhook id; the old URL stops working at once', body: Type.Object(WebhookIdBody, { additionalProperties: false }) } },
    async (req, reply) => {
      const w = await deps.store.webhooks.resetWebhook(req.apiKey.workspaceId, req.body.webhookId, newWebhookId(), now());
      deps.webhooks.forget(req.body.webhookId);
      if (!w) throw new FlowgateError(failure('WEBHOOK_NOT_FOUND'));
      return sendOk(req, reply, webhookView(w, baseUrl(req)));
    },
  );

  app.get(
    '/v1/webhook/config',
    { config: { scope: 'admin' }, schema: { tags, summary: "A workflow's webhook settings (no `data` when it has none)", querystring: Type.Object({ canvasId: Type.String({ maxLength: 128 }) }) } },
    async (req, reply) => {
      const ws = req.apiKey.workspaceId;
      const w = await deps.store.webhooks.getWebhookForWorkflow(ws, req.query.canvasId);
      if (w) return sendOk(req, reply, webhookView(w, baseUrl(req)));
      if (!(await deps.store.catalog.getWorkflow(ws, req.query.canvasId))) throw new FlowgateError(failure('CANVAS_NOT_FOUND', `Workflow ${req.query.canvasId} not found`));
      // As Refly: a workflow without a webhook is a success with no data (POST /v1/webhook/enable creates one).
      return sendOk(req, reply, undefined);
    },
  );

  app.get(
    '/v1/webhook/history',
    {
      config: { scope: 'admin' },
      schema: {
        tags,
        summary: 'Every call to a webhook, accepted or rejected, newest first',
        querystring: Type.Object({
          webhookId: Type.String({ maxLength: 64 }),
          page: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1 }),
          pageSize: ReflyPageSize,
        }),
      },
    },
    async (req, reply) => {
      const w = await deps.store.webhooks.getWebhook(req.query.webhookId);
      if (!w || w.workspaceId !== req.apiKey.workspaceId) throw new FlowgateError(failure('WEBHOOK_NOT_FOUND'));
      const { page } = req.query;
      const pageSize = clampPageSize(req.query.pageSize);
      const r = await deps.store.webhooks.listWebhookCalls(w.webhookId, (page - 1) * pageSize, pageSize);
      return sendOk(req, reply, {
        records: r.records.map((c) => callView(c, w, baseUrl(req))),
        total: r.total,
        page,
        pageSize,
      });
    },
  );

  function found(req: FastifyRequest, webhook: WebhookRecord): void {
    req.webhook = webhook;
    // Every field from the start: the handler fills them in place.
    req.webhookCall = { webhookId: webhook.webhookId, recordId: newWebhookCallId(), executionId: undefined, duplicate: false, recorded: undefined, startedAt: performance.now() };
  }

  async function recordCall(req: FastifyRequest, httpStatus: number, responseTime: number): Promise<void> {
    const call = req.webhookCall;
    if (!call || call.recorded) return;
    call.recorded = true;
    const ok = httpStatus < 300;
    const outcome = await deps.commits
      .submit({
        call: {
          recordId: call.recordId,
          webhookId: call.webhookId,
          status: ok ? (call.duplicate ? 'duplicate' : 'accepted') : 'rejected',
          httpStatus,
          errCode: req.errCode,
          executionId: call.executionId,
          responseTime,
          sourceIp: req.ip,
          bodySize: req.rawBody?.length ?? 0,
          duplicate: call.duplicate,
          createdAt: now(),
        },
      })
      .catch((error: unknown) => ({ type: 'error' as const, error }));
    if (outcome.type === 'error') req.log.error({ err: outcome.error }, 'could not record the webhook call');
  }

  app.post(
    '/v1/openapi/webhook/:webhookId/run',
    {
      schema: {
        tags,
        summary: 'Trigger a workflow by its webhook (no API key: the id is the credential)',
        description:
          'Committed before the answer. Deduplicated by Idempotency-Key, the sender\'s delivery id (Standard Webhooks webhook-id, X-GitHub-Delivery) within 24 h, or a byte-identical body within 1 s. Signed webhooks verify the raw body.',
        params: Type.Object({ webhookId: Type.String({ maxLength: 64 }) }),
        headers: IdempotencyHeader,
        response: { 200: Envelope(AnyObject), ...errorResponses(400, 401, 403, 404, 413, 415, 422, 429, 503) },
      },
      serializerCompiler: plainJsonSerializer,
      // Looked up before the body is parsed, so a call rejected for its body (413, 415, bad JSON)
      // still appears in the webhook's history. The hooks take callbacks: with the webhook cached, as
      // it nearly always is, they cost a call no promise.
      onRequest: (req, _reply, done) => {
        const { webhookId } = req.params as { webhookId: string };
        // Runs before parameter validation: an id that cannot exist (or holds a NUL, which
        // PostgreSQL text refuses) never reaches the store.
        if (!isWebhookId(webhookId)) return done();
        const cached = deps.webhooks.fresh(webhookId);
        if (cached) {
          found(req, cached);
          return done();
        }
        deps.webhooks.get(webhookId, () => deps.store.webhooks.getWebhook(webhookId)).then((w) => {
          if (w) found(req, w);
          done();
        }, done);
      },
      // Calls whose record did not commit with a run (rejected, or answered from a duplicate still
      // in flight) are recorded after the answer, batched with the accepts.
      onResponse: (req, reply, done) => {
        if (!req.webhookCall || req.webhookCall.recorded) return done();
        recordCall(req, reply.statusCode, reply.elapsedTime).then(() => done(), done);
      },
      // A sender that hangs up before its request was read is recorded too (nginx's 499).
      onRequestAbort: async (req) => {
        req.errCode = 'CLIENT_CLOSED_REQUEST';
        if (req.webhookCall) await recordCall(req, 499, performance.now() - req.webhookCall.startedAt);
      },
    },
    async (req, reply) => {
      const webhook = req.webhook;
      if (!webhook) throw new FlowgateError(failure('WEBHOOK_NOT_FOUND'));
      const workspace = deps.workspaces.fresh(webhook.workspaceId) ?? (await deps.workspaces.get(webhook.workspaceId, () => deps.store.catalog.getWorkspace(webhook.workspaceId)));
      if (workspace?.disabledAt !== undefined) throw new FlowgateError(failure('WORKSPACE_DISABLED'));
      const headers = singleValued(req.headers);
      const rawBody = req.rawBody ?? Buffer.alloc(0);
      const call = { recordId: req.webhookCall!.recordId, webhookId: webhook.webhookId, responseTime: reply.elapsedTime, sourceIp: req.ip, bodySize: rawBody.length, createdAt: now() };
      const r = await acceptWebhookCall(deps, { webhook, rawBody, body: req.body, headers, nowMs: call.createdAt, call });
      reply.headers(r.rateHeaders);
      if (!r.ok) return sendFailure(req, reply, r.error as Failure, r.error.headers);
      const { executionId, replayed } = r.value;
      const record = req.webhookCall!;
      record.executionId = executionId;
      record.duplicate = replayed;
      record.recorded = r.value.callRecorded;
      if (replayed) reply.header('idempotent-replayed', 'true');
      const data: Record<string, unknown> = { executionId, status: r.value.status, received: true, duplicate: replayed };
      if (webhook.timeout > 0) {
        const abandon = new AbortController();
        reply.raw.once('close', () => abandon.abort());
        const status = await waitForTerminal(deps.store, deps.bus, webhook.workspaceId, executionId, webhook.timeout * 1000, AbortSignal.any([abandon.signal, deps.closing]));
        const e = await deps.store.runs.getExecution(webhook.workspaceId, executionId);
        data.status = e?.status ?? data.status;
        if (e?.errCode) Object.assign(data, { errCode: e.errCode, errMsg: e.errMsg });
        if (status) Object.assign(data, await executionOutput(deps, req, executionId));
      }
      return sendOk(req, reply, data);
    },
  );
};

/**
 * The request's headers with one string per name. Node joins repeated headers already, all but
 * `set-cookie`, which it keeps as an array: only a request carrying one needs a copy.
 */
function singleValued(headers: FastifyRequest['headers']): Record<string, string | undefined> {
  if (headers['set-cookie'] === undefined) return headers as Record<string, string | undefined>;
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(headers)) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}
