import { Type } from 'typebox';
import type { App, AppDeps } from '../app.ts';
import { sendOk } from '../envelope.ts';
import { historyFields, listHistory } from './history.ts';
import { replayFailed } from '../../runs/replay.ts';

/** Executions across every workflow of the workspace, for operators (the dead-letter view: `?status=failed`). */
export const executionRoutes = (deps: AppDeps) => async (app: App) => {
  app.get(
    '/v1/executions',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['executions'],
        summary: 'Executions across workflows, newest first',
        querystring: Type.Object({ ...historyFields, canvasId: Type.Optional(Type.String({ maxLength: 128 })) }),
      },
    },
    async (req, reply) => sendOk(req, reply, await listHistory(deps.store, req.apiKey.workspaceId, req.query, req.query.canvasId)),
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
