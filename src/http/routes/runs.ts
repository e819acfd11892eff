import { timelineView } from '../../runs/timeline.ts';
import { Type } from 'typebox';
import { failure, FlowgateError } from '../../errors.ts';
import { statusView } from '../../runs/views.ts';
import { executionOutput } from '../output.ts';
import { streamExecution } from '../../runs/events.ts';
import { replayExecution } from '../../runs/replay.ts';
import { waitForTerminal } from '../../runs/wait.ts';
import type { App, AppDeps } from '../app.ts';
import { sendOk } from '../envelope.ts';
import { AnyObject, Envelope, errorResponses, plainJsonSerializer, RunHeaders } from '../schemas.ts';
import { historyQuery, listHistory } from './history.ts';

const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128, description: 'canvasId for run/executions, executionId otherwise' }) });

/** Refly's run API: trigger, poll, fetch output, abort, history. */
export const runRoutes = (deps: AppDeps) => async (app: App) => {
  const tags = ['runs (Refly)'];
  const now = deps.now ?? Date.now;

  const findExecution = async (ws: string, id: string) => {
    const e = await deps.store.runs.getExecution(ws, id);
    // 404 rather than 403 for other workspaces' executions: existence is not leaked.
    if (!e) throw new FlowgateError(failure('EXECUTION_NOT_FOUND', `Execution ${id} not found`));
    return e;
  };

  app.post(
    '/v1/openapi/workflow/:id/run',
    {
      config: { scope: 'run', pathParam: 'canvasId' },
      serializerCompiler: plainJsonSerializer,
      schema: {
        tags,
        summary: 'Run a workflow',
        description:
          'Body `{"variables": {...}}` or empty, plus an optional `callbackUrl` that receives the signed `execution.finished`/`execution.failed` event (the answer\'s `callback.secret` verifies it). The execution is committed before the answer. `Idempotency-Key` within 24 h returns the original execution with `Idempotent-Replayed: true`. `?wait=N` (≤ 60 s) answers when the run ends or after N s, with its output if it finished.',
        params: IdParams,
        headers: RunHeaders,
        querystring: Type.Object({ wait: Type.Optional(Type.Number({ minimum: 0, maximum: 60, description: 'Seconds to wait for the run to finish' })) }),
        response: { 200: Envelope(AnyObject), ...errorResponses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503) },
      },
    },
    async (req, reply) => {
      const ws = req.apiKey.workspaceId;
      const rate = await deps.rateLimits.consume(`ws:${ws}:api`, { perMinute: deps.config.rateLimitPerMinute, perDay: deps.config.rateLimitPerDay });
      reply.headers(rate.headers);
      if (!rate.allowed) throw new FlowgateError(failure('RATE_LIMITED', `API rate limit exceeded; retry in ${rate.retryAfterS} s`));
      const r = await deps.trigger.trigger({
        workspaceId: ws,
        canvasId: req.params.id,
        body: req.body,
        trigger: req.headers['flowgate-trigger'] ?? 'api',
        triggeredBy: req.apiKey.id,
        allowCallback: true,
        idempotencyKey: req.headers['idempotency-key'],
      });
      if (!r.ok) throw new FlowgateError(r.error);
      const { executionId, replayed } = r.value;
      if (replayed) reply.header('idempotent-replayed', 'true');
      const waitS = req.query.wait ?? 0;
      if (waitS <= 0) return sendOk(req, reply, { executionId, status: r.value.status, callback: r.value.callback });
      // Stop waiting when the caller hangs up or the server is shutting down; answer with what we have.
      const abandon = new AbortController();
      reply.raw.once('close', () => abandon.abort());
      await waitForTerminal(deps.store, deps.bus, ws, executionId, waitS * 1000, AbortSignal.any([abandon.signal, deps.closing]));
      const e = await findExecution(ws, executionId);
      const data: Record<string, unknown> = { executionId, status: e.status, callback: r.value.callback };
      if (e.errCode) Object.assign(data, { errCode: e.errCode, errMsg: e.errMsg });
      if (e.status === 'finish' || e.status === 'failed') Object.assign(data, await executionOutput(deps, req, executionId));
      return sendOk(req, reply, data);
    },
  );

  app.get(
    '/v1/openapi/workflow/:id/status',
    { config: { scope: 'read', pathParam: 'executionId' }, schema: { tags, summary: 'Execution status with every node and attempt', params: IdParams, response: { 200: Envelope(AnyObject), ...errorResponses(401, 403, 404) } } },
    async (req, reply) => {
      const e = await findExecution(req.apiKey.workspaceId, req.params.id);
      const [nodes, attempts] = await Promise.all([deps.store.runs.listNodes(e.executionId), deps.store.runs.listAttempts(e.executionId)]);
      return sendOk(req, reply, statusView(e, nodes, attempts));
    },
  );

  app.get(
    '/v1/openapi/workflow/:id/timeline',
    {
      config: { scope: 'read', pathParam: 'executionId' },
      schema: {
        tags,
        summary: 'The execution in time order: trigger, node attempts, end, and every outbound event with its delivery attempts',
        params: IdParams,
        response: { 200: Envelope(AnyObject), ...errorResponses(401, 403, 404) },
      },
    },
    async (req, reply) => {
      const e = await findExecution(req.apiKey.workspaceId, req.params.id);
      const [attempts, messages, nodes] = await Promise.all([
        deps.store.runs.listAttempts(e.executionId),
        deps.store.outbox.listExecutionMessages(e.executionId),
        deps.store.runs.listNodes(e.executionId),
      ]);
      return sendOk(req, reply, timelineView(e, attempts, messages, nodes));
    },
  );

  app.get(
    '/v1/openapi/workflow/:id/output',
    { config: { scope: 'read', pathParam: 'executionId' }, schema: { tags, summary: 'Execution output (partial while running)', params: IdParams, response: { 200: Envelope(AnyObject), ...errorResponses(401, 403, 404) } } },
    async (req, reply) => {
      const e = await findExecution(req.apiKey.workspaceId, req.params.id);
      return sendOk(req, reply, { executionId: e.executionId, status: e.status, ...(await executionOutput(deps, req, e.executionId)) });
    },
  );

  app.post(
    '/v1/openapi/workflow/:id/abort',
    { config: { scope: 'run', pathParam: 'executionId' }, schema: { tags, summary: 'Abort an execution (idempotent)', params: IdParams, response: { 200: Envelope(AnyObject), ...errorResponses(401, 403, 404) } } },
    async (req, reply) => {
      const e = await findExecution(req.apiKey.workspaceId, req.params.id);
      const aborted = await deps.store.runs.terminateExecution(e.executionId, 'EXECUTION_ABORTED', 'Aborted by request', now());
      if (aborted) {
        deps.bus.emit('execution.abort', e.executionId);
        deps.bus.emit('execution.terminal', e.executionId, 'failed');
        deps.metrics.executionsEnded.inc({ status: 'failed' });
      }
      const after = await findExecution(req.apiKey.workspaceId, e.executionId);
      return sendOk(req, reply, { executionId: after.executionId, status: after.status, errCode: after.errCode, errMsg: after.errMsg, aborted });
    },
  );

  app.get(
    '/v1/openapi/workflow/:id/events',
    {
      config: { scope: 'read', pathParam: 'executionId' },
      schema: {
        tags,
        summary: 'Server-Sent Events: every status change of the execution and its nodes, then `end`',
        description: 'Events `execution.status`, `node.status` (with attempts), then `end`, after which the stream closes. A snapshot is sent first, so a late subscriber sees the current state. If the server shuts down first, the stream ends with a `shutdown` event instead: reconnect (to any instance) to resume.',
        params: IdParams,
      },
    },
    async (req, reply) => {
      const e = await findExecution(req.apiKey.workspaceId, req.params.id);
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-trace-id': req.id });
      const gone = new AbortController();
      res.once('close', () => gone.abort());
      // A comment line now and then keeps proxies from closing an idle stream.
      const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
      let n = 0;
      try {
        await streamExecution(deps, req.apiKey.workspaceId, e.executionId, (ev) => res.write(`id: ${++n}\nevent: ${ev.event}\ndata: ${JSON.stringify(ev.data)}\n\n`), AbortSignal.any([gone.signal, deps.closing]));
        // The server is stopping: say so, and when to come back, rather than just dropping the stream.
        if (deps.closing.aborted && !gone.signal.aborted) {
          res.write(`retry: 1000\nid: ${++n}\nevent: shutdown\ndata: ${JSON.stringify({ executionId: e.executionId, reason: 'the server is shutting down; reconnect to resume' })}\n\n`);
        }
      } catch (err) {
        req.log.error({ err }, 'event stream failed');
      } finally {
        clearInterval(keepAlive);
        res.end();
      }
    },
  );

  app.post(
    '/v1/openapi/workflow/:id/retry',
    {
      config: { scope: 'run', pathParam: 'executionId' },
      schema: {
        tags,
        summary: 'Resume a failed or aborted execution from its failed nodes (idempotent)',
        description: 'Finished nodes keep their results and are not run again. Replaying an execution that is not failed changes nothing and answers `retried: false`.',
        params: IdParams,
        response: { 200: Envelope(AnyObject), ...errorResponses(401, 403, 404) },
      },
    },
    async (req, reply) => {
      const r = await replayExecution(deps, req.apiKey.workspaceId, req.params.id);
      if (!r.ok) throw new FlowgateError(r.error);
      return sendOk(req, reply, r.value);
    },
  );

  app.get(
    '/v1/openapi/workflow/:id/executions',
    { config: { scope: 'read', pathParam: 'canvasId' }, schema: { tags, summary: 'Run history of a workflow, newest first', params: IdParams, querystring: historyQuery } },
    async (req, reply) => {
      const ws = req.apiKey.workspaceId;
      if (!(await deps.store.catalog.getWorkflow(ws, req.params.id))) throw new FlowgateError(failure('CANVAS_NOT_FOUND'));
      return sendOk(req, reply, await listHistory(deps.store, ws, req.query, req.params.id));
    },
  );
};
