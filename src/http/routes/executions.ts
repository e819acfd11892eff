import { Type } from 'typebox';
import type { App, AppDeps } from '../app.ts';
import { sendOk } from '../envelope.ts';
import { historyFields, listHistory } from './history.ts';

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
};
