import { Type } from 'typebox';
import { failure, FlowgateError } from '../../errors.ts';
import { isCanvasId, newCanvasId } from '../../ids.ts';
import type { WorkflowRecord } from '../../store/store.ts';
import type { WorkflowDefinition } from '../../workflows/definition.ts';
import { WorkflowDefinitionSchema } from '../../workflows/schema.ts';
import { validateDefinition } from '../../workflows/validate.ts';
import type { App, AppDeps } from '../app.ts';
import { workflowKey } from '../../runs/trigger.ts';
import { sendOk } from '../envelope.ts';
import { AnyObject, Envelope, errorResponses } from '../schemas.ts';

export const workflowView = (w: WorkflowRecord) => ({
  canvasId: w.canvasId,
  title: w.title,
  description: w.definition.description,
  version: w.version,
  createdAt: new Date(w.createdAt).toISOString(),
  updatedAt: new Date(w.updatedAt).toISOString(),
  definition: w.definition,
});

const CanvasParams = Type.Object({ canvasId: Type.String({ minLength: 1, maxLength: 128 }) });

/** Validated on save (SPEC §2); the error lists every problem with its task and field. */
function parseDefinition(body: unknown): WorkflowDefinition {
  const r = validateDefinition(body);
  if (!r.ok) throw new FlowgateError(r.error);
  return r.value;
}

/** Workflow management for admins: every update is a new immutable version. */
export const workflowRoutes = (deps: AppDeps) => async (app: App) => {
  const now = deps.now ?? Date.now;
  const tags = ['workflows'];
  // The handler validates (schema and semantics) itself so errors name task and field; the route
  // schema is there for the OpenAPI document.
  const body = WorkflowDefinitionSchema;

  app.post(
    '/v1/workflows',
    {
      config: { scope: 'admin' },
      attachValidation: true,
      schema: { tags, summary: 'Create a workflow from a JSON or YAML definition', body, response: { 201: Envelope(AnyObject), ...errorResponses(400, 401, 403, 413, 415) } },
    },
    async (req, reply) => {
      const def = parseDefinition(req.body);
      const canvasId = def.canvasId ?? newCanvasId();
      if (!isCanvasId(canvasId)) throw new FlowgateError(failure('INVALID_WORKFLOW', 'canvasId must match c-[A-Za-z0-9_-]{1,64}'));
      const ws = req.apiKey.workspaceId;
      if (!(await deps.store.catalog.createWorkflow(ws, canvasId, { ...def, canvasId }, now()))) {
        throw new FlowgateError(failure('INVALID_WORKFLOW', `A workflow with canvasId ${canvasId} already exists; PUT /v1/workflows/${canvasId} updates it`));
      }
      const w = await deps.store.catalog.getWorkflow(ws, canvasId);
      return sendOk(req, reply, workflowView(w!), 201);
    },
  );

  app.get(
    '/v1/workflows',
    {
      config: { scope: 'admin' },
      schema: {
        tags,
        summary: 'List workflows',
        querystring: Type.Object({
          page: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1 }),
          pageSize: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
        }),
      },
    },
    async (req, reply) => {
      const { page, pageSize } = req.query;
      const r = await deps.store.catalog.listWorkflows(req.apiKey.workspaceId, { order: 'creationDesc', offset: (page - 1) * pageSize, limit: pageSize });
      return sendOk(req, reply, {
        workflows: r.items.map((w) => ({ ...w, createdAt: new Date(w.createdAt).toISOString(), updatedAt: new Date(w.updatedAt).toISOString() })),
        total: r.total,
        page,
        pageSize,
      });
    },
  );

  app.get('/v1/workflows/:canvasId', { config: { scope: 'admin' }, schema: { tags, summary: 'Read a workflow and its current definition', params: CanvasParams } }, async (req, reply) => {
    const w = await deps.store.catalog.getWorkflow(req.apiKey.workspaceId, req.params.canvasId);
    if (!w) throw new FlowgateError(failure('CANVAS_NOT_FOUND'));
    return sendOk(req, reply, workflowView(w));
  });

  app.put(
    '/v1/workflows/:canvasId',
    { config: { scope: 'admin' }, attachValidation: true, schema: { tags, summary: 'Replace the definition (creates a new version)', params: CanvasParams, body } },
    async (req, reply) => {
      const def = parseDefinition(req.body);
      if (def.canvasId && def.canvasId !== req.params.canvasId) {
        throw new FlowgateError(failure('INVALID_WORKFLOW', 'canvasId in the body differs from the path'));
      }
      const w = await deps.store.catalog.updateWorkflow(req.apiKey.workspaceId, req.params.canvasId, { ...def, canvasId: req.params.canvasId }, now());
      deps.workflows.forget(workflowKey(req.apiKey.workspaceId, req.params.canvasId));
      if (!w) throw new FlowgateError(failure('CANVAS_NOT_FOUND'));
      return sendOk(req, reply, workflowView(w));
    },
  );

  app.delete('/v1/workflows/:canvasId', { config: { scope: 'admin' }, schema: { tags, summary: 'Delete a workflow (its executions are kept)', params: CanvasParams } }, async (req, reply) => {
    deps.workflows.forget(workflowKey(req.apiKey.workspaceId, req.params.canvasId));
    if (!(await deps.store.catalog.deleteWorkflow(req.apiKey.workspaceId, req.params.canvasId, now()))) throw new FlowgateError(failure('CANVAS_NOT_FOUND'));
    return sendOk(req, reply, { canvasId: req.params.canvasId, deleted: true });
  });
};
