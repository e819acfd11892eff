import { Type } from 'typebox';
import { failure, FlowgateError } from '../../errors.ts';
import type { TaskDef, VariableDef } from '../../workflows/definition.ts';
import { workflowOpenApi } from '../../workflows/openapi.ts';
import { variablesJsonSchema } from '../../workflows/variables.ts';
import type { App, AppDeps } from '../app.ts';
import { clampPageSize, ReflyPageSize } from '../schemas.ts';
import { sendOk } from '../envelope.ts';

const CanvasParams = Type.Object({ canvasId: Type.String({ minLength: 1, maxLength: 128 }) });

/** Refly's read-only workflow endpoints for integrators (key scope `read`), plus each workflow's input contract. */
/** What a task does, as the `prompt` Refly's schema requires of every task. */
function taskInstruction(t: TaskDef): string {
  switch (t.kind) {
    case 'agent':
      return t.prompt;
    case 'http':
      return `HTTP ${t.request.method ?? 'GET'} ${t.request.url}`;
    case 'transform':
      return `transform: ${t.expression}`;
    case 'condition':
      return `condition: ${t.expression}`;
    case 'output':
      return 'output';
  }
}

/**
 * Refly's variable types are string | option | resource. Flowgate's `number`, `boolean` and `json`
 * are given to Refly clients as `string` (the closest input they can render), with the real type in
 * `flowgateVariableType`; the run endpoint still validates the real type.
 */
function reflyVariableType(type: VariableDef['variableType']): { variableType: 'string' | 'option' | 'resource'; flowgateVariableType?: string } {
  return type === 'string' || type === 'option' || type === 'resource' ? { variableType: type } : { variableType: 'string', flowgateVariableType: type };
}

export const workflowCatalogRoutes = (deps: AppDeps) => async (app: App) => {
  const tags = ['workflows (Refly)'];
  const find = async (ws: string, canvasId: string) => {
    const w = await deps.store.catalog.getWorkflow(ws, canvasId);
    if (!w) throw new FlowgateError(failure('CANVAS_NOT_FOUND'));
    return w;
  };

  app.get(
    '/v1/openapi/workflows',
    {
      config: { scope: 'read' },
      schema: {
        tags,
        summary: 'Search workflows',
        querystring: Type.Object({
          keyword: Type.Optional(Type.String({ maxLength: 200 })),
          order: Type.Union([Type.Literal('creationAsc'), Type.Literal('creationDesc'), Type.Literal('updationAsc'), Type.Literal('updationDesc')], { default: 'updationDesc' }),
          page: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1 }),
          pageSize: ReflyPageSize,
        }),
      },
    },
    async (req, reply) => {
      const { keyword, order, page } = req.query;
      const pageSize = clampPageSize(req.query.pageSize);
      const r = await deps.store.catalog.listWorkflows(req.apiKey.workspaceId, { keyword, order, offset: (page - 1) * pageSize, limit: pageSize });
      return sendOk(req, reply, r.items.map((w) => ({ canvasId: w.canvasId, title: w.title })));
    },
  );

  app.get('/v1/openapi/workflows/:canvasId', { config: { scope: 'read' }, schema: { tags, summary: 'Workflow tasks and variables', params: CanvasParams } }, async (req, reply) => {
    const w = await find(req.apiKey.workspaceId, req.params.canvasId);
    const d = w.definition;
    return sendOk(req, reply, {
      canvasId: w.canvasId,
      title: d.title,
      description: d.description,
      version: w.version,
      tasks: d.tasks.map((t) => ({
        id: t.id,
        title: t.title ?? t.id,
        kind: t.kind,
        // Refly requires both on every task; for tasks that are not agents, the prompt says what
        // the task does and there are no toolsets.
        prompt: taskInstruction(t),
        toolsets: t.kind === 'agent' ? (t.toolsets ?? []) : [],
        dependentTasks: t.dependentTasks ?? [],
      })),
      variables: (d.variables ?? []).map((v) => ({
        name: v.name,
        ...reflyVariableType(v.variableType),
        required: v.required ?? false,
        options: v.options,
        default: v.default,
        description: v.description,
      })),
    });
  });

  app.get('/v1/openapi/workflows/:canvasId/schema', { config: { scope: 'read' }, schema: { tags, summary: 'JSON Schema of the workflow variables', params: CanvasParams } }, async (req, reply) => {
    const w = await find(req.apiKey.workspaceId, req.params.canvasId);
    return sendOk(req, reply, variablesJsonSchema(w.definition));
  });

  app.get(
    '/v1/openapi/workflows/:canvasId/openapi.json',
    { config: { scope: 'read' }, schema: { tags, summary: "OpenAPI 3.1 document of this workflow's run endpoint", params: CanvasParams } },
    async (req) => {
      const w = await find(req.apiKey.workspaceId, req.params.canvasId);
      // Served bare (not in the envelope) so OpenAPI tools can load the URL directly.
      return workflowOpenApi(w.definition, w.canvasId, `${req.protocol}://${req.host}`);
    },
  );
};
