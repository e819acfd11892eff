import stringify from 'safe-stable-stringify';
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

/** Validated on save; the error lists every problem with its task and field. */
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
      config: { scope: 'read' },
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

  app.get('/v1/workflows/:canvasId', { config: { scope: 'read' }, schema: { tags, summary: 'Read a workflow and its current definition', params: CanvasParams } }, async (req, reply) => {
    const w = await deps.store.catalog.getWorkflow(req.apiKey.workspaceId, req.params.canvasId);
    if (!w) throw new FlowgateError(failure('CANVAS_NOT_FOUND'));
    return sendOk(req, reply, workflowView(w));
  });

  app.get(
    '/v1/workflows/:canvasId/versions/:version',
    {
      config: { scope: 'read' },
      schema: { tags, summary: 'Read one version of a definition (versions run from 1 to the current one)', params: Type.Object({
          canvasId: CanvasParams.properties.canvasId,
          // Digits, not an integer schema: coercion would let "Infinity" through as a number.
          version: Type.String({ pattern: '^[1-9][0-9]{0,8}$', description: 'A version number, 1 to the current one' }),
        }),
      },
    },
    async (req, reply) => {
      const { canvasId } = req.params;
      const version = Number(req.params.version);
      const def = await deps.store.catalog.getWorkflowVersion(req.apiKey.workspaceId, canvasId, version);
      if (!def) {
        const w = await deps.store.catalog.getWorkflow(req.apiKey.workspaceId, canvasId);
        throw new FlowgateError(w ? failure('NOT_FOUND', `Workflow ${canvasId} has versions 1 to ${w.version}, not ${version}`) : failure('CANVAS_NOT_FOUND'));
      }
      return sendOk(req, reply, { canvasId, version, definition: def });
    },
  );

  app.put(
    '/v1/workflows/:canvasId',
    { config: { scope: 'admin' }, attachValidation: true, schema: { tags, summary: 'Replace the definition (a new version; the same definition again changes nothing: `unchanged: true`)', params: CanvasParams, body } },
    async (req, reply) => {
      const def = parseDefinition(req.body);
      if (def.canvasId && def.canvasId !== req.params.canvasId) {
        throw new FlowgateError(failure('INVALID_WORKFLOW', 'canvasId in the body differs from the path'));
      }
      const next = { ...def, canvasId: req.params.canvasId };
      // Pushing the same definition again (a deploy script, `flowgate workflows push`) is not a change.
      const current = await deps.store.catalog.getWorkflow(req.apiKey.workspaceId, req.params.canvasId);
      if (!current) throw new FlowgateError(failure('CANVAS_NOT_FOUND'));
      if (stringify(current.definition) === stringify(next)) return sendOk(req, reply, { ...workflowView(current), unchanged: true });
      const w = await deps.store.catalog.updateWorkflow(req.apiKey.workspaceId, req.params.canvasId, next, now());
      deps.workflows.forget(workflowKey(req.apiKey.workspaceId, req.params.canvasId));
      if (!w) throw new FlowgateError(failure('CANVAS_NOT_FOUND'));
      return sendOk(req, reply, { ...workflowView(w), unchanged: false });
    },
  );

  app.delete('/v1/workflows/:canvasId', { config: { scope: 'admin' }, schema: { tags, summary: 'Delete a workflow (its executions are kept)', params: CanvasParams } }, async (req, reply) => {
    deps.workflows.forget(workflowKey(req.apiKey.workspaceId, req.params.canvasId));
    if (!(await deps.store.catalog.deleteWorkflow(req.apiKey.workspaceId, req.params.canvasId, now()))) throw new FlowgateError(failure('CANVAS_NOT_FOUND'));
    return sendOk(req, reply, { canvasId: req.params.canvasId, deleted: true });
  });
};
