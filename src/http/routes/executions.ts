import { Type } from 'typebox';
import { failure, FlowgateError } from '../../errors.ts';
import { outputFiles } from '../../files/outputs.ts';
import { attemptView, iso, waitingFor } from '../../runs/views.ts';
import type { App, AppDeps } from '../app.ts';
import { sendOk } from '../envelope.ts';
import { historyFields, listHistory, timeRange } from './history.ts';
import { replayFailed } from '../../runs/replay.ts';

/** Enough to tell "a lot" apart from an exact number without walking a million-row index per page view. */
const COUNT_CAP = 10_000;

/** Executions across every workflow of the workspace, for operators (the dead-letter view: `?status=failed`). */
export const executionRoutes = (deps: AppDeps) => async (app: App) => {
  app.get(
    '/v1/executions',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['executions'],
        summary: 'Executions across workflows, newest first',
        querystring: Type.Object({ ...historyFields, canvasId: Type.Optional(Type.String({ maxLength: 128 })) }),
      },
    },
    async (req, reply) => sendOk(req, reply, await listHistory(deps.store, req.apiKey.workspaceId, req.query, req.query.canvasId)),
  );

  app.get(
    '/v1/executions/counts',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['executions'],
        summary: `Executions per status under the same filters as the list; each count stops at ${COUNT_CAP} (\`capped\` says which did)`,
        querystring: Type.Object({
          canvasId: Type.Optional(Type.String({ maxLength: 128 })),
          trigger: historyFields.trigger,
          since: historyFields.since,
          until: historyFields.until,
        }),
      },
    },
    async (req, reply) => {
      const q = req.query;
      const counts = await deps.store.runs.countExecutions(
        { workspaceId: req.apiKey.workspaceId, canvasId: q.canvasId, trigger: q.trigger, ...timeRange(q) },
        COUNT_CAP,
      );
      const capped = Object.entries(counts).filter(([, n]) => n >= COUNT_CAP).map(([s]) => s);
      return sendOk(req, reply, { counts, capped, cap: COUNT_CAP });
    },
  );

  app.get(
    '/v1/executions/:executionId/nodes/:nodeId',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['executions'],
        summary: "One node of a run in full: what each attempt sent, its output, messages, usage and files (Flowgate's own status vocabulary)",
        params: Type.Object({ executionId: Type.String({ maxLength: 128 }), nodeId: Type.String({ maxLength: 128 }) }),
      },
    },
    async (req, reply) => {
      const e = await deps.store.runs.getExecution(req.apiKey.workspaceId, req.params.executionId);
      if (!e) throw new FlowgateError(failure('EXECUTION_NOT_FOUND', `Execution ${req.params.executionId} not found`));
      const [nodes, attempts, files] = await Promise.all([
        deps.store.runs.listNodes(e.executionId),
        deps.store.runs.listAttempts(e.executionId),
        outputFiles(deps.store, e.executionId, { baseUrl: `${req.protocol}://${req.host}`, secret: deps.fileLinkSecret, ttlS: deps.config.fileLinkTtlS, nowMs: (deps.now ?? Date.now)() }),
      ]);
      const n = nodes.find((x) => x.nodeId === req.params.nodeId);
      if (!n) throw new FlowgateError(failure('NOT_FOUND', `Execution ${e.executionId} has no node ${req.params.nodeId}`));
      return sendOk(req, reply, {
        executionId: e.executionId,
        canvasId: e.canvasId,
        nodeId: n.nodeId,
        title: n.title ?? n.nodeId,
        kind: n.kind,
        status: n.status,
        dependsOn: n.deps,
        output: n.output ?? null,
        messages: n.messages ?? [],
        usage: n.usage,
        errCode: n.errCode,
        errorMessage: n.errMsg,
        drift: n.drift,
        waitingFor: waitingFor(n),
        startTime: iso(n.startedAt),
        endTime: iso(n.finishedAt),
        attempts: attempts.filter((a) => a.nodeId === n.nodeId).map((a) => ({ ...attemptView(a), input: a.input })),
        files: files.filter((f) => f.nodeId === n.nodeId),
      });
    },
  );

  app.post(
    '/v1/executions/retry',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['executions'],
        summary: 'Replay failed executions in bulk (by workflow and time range)',
        body: Type.Object(
          {
            status: Type.Literal('failed'),
            canvasId: Type.Optional(Type.String({ maxLength: 128 })),
            since: Type.Optional(Type.String({ format: 'date-time' })),
            until: Type.Optional(Type.String({ format: 'date-time' })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (req, reply) => {
      const b = req.body;
      const r = await replayFailed(deps, req.apiKey.workspaceId, {
        canvasId: b.canvasId,
        since: b.since ? Date.parse(b.since) : undefined,
        until: b.until ? Date.parse(b.until) : undefined,
        limit: b.limit ?? 100,
      });
      return sendOk(req, reply, { retried: r.retried.length, executionIds: r.retried, more: r.more });
    },
  );
};
