import { Type } from 'typebox';
import { failure, FlowgateError } from '../../errors.ts';
import { apiKeyView, mintApiKey } from '../../apiKeys.ts';
import { newWorkspaceId } from '../../ids.ts';
import type { Scope, WorkspaceRecord } from '../../store/store.ts';
import type { App, AppDeps } from '../app.ts';
import { sendOk } from '../envelope.ts';
import { AnyObject, Envelope, errorResponses } from '../schemas.ts';

const tags = ['workspaces'];

const workspaceView = (w: WorkspaceRecord) => ({
  workspaceId: w.id,
  name: w.name,
  disabled: w.disabledAt !== undefined,
  disabledAt: w.disabledAt === undefined ? null : new Date(w.disabledAt).toISOString(),
  createdAt: new Date(w.createdAt).toISOString(),
});

const WorkspaceParams = Type.Object({ workspaceId: Type.String({ minLength: 1, maxLength: 64 }) });
const Scopes = Type.Array(Type.Union([Type.Literal('run'), Type.Literal('read'), Type.Literal('admin')]), { minItems: 1, uniqueItems: true });

/**
 * Instance administration (FLOWGATE_ADMIN_KEY): create, list, rename, disable and re-enable
 * workspaces, and issue a workspace's keys — its first admin key comes with the create answer, so a
 * new tenant can be handed over without touching the database. Nothing here reads workflows or runs.
 */
export const workspaceRoutes = (deps: AppDeps) => async (app: App) => {
  const now = deps.now ?? Date.now;

  async function issueKey(workspaceId: string, name: string, scopes: Scope[]) {
    const { record, secret } = mintApiKey({ workspaceId, name, scopes, createdAt: now() });
    await deps.store.catalog.createApiKey(record);
    return { ...apiKeyView(record), secret };
  }

  async function existing(workspaceId: string): Promise<WorkspaceRecord> {
    const w = await deps.store.catalog.getWorkspace(workspaceId);
    if (!w) throw new FlowgateError(failure('WORKSPACE_NOT_FOUND', `Workspace ${workspaceId} not found`));
    return w;
  }

  app.post(
    '/v1/workspaces',
    {
      config: { instanceAdmin: true },
      schema: {
        tags,
        summary: 'Create a workspace and its first admin key (the secret is shown only in this response)',
        body: Type.Object({
          name: Type.String({ minLength: 1, maxLength: 200 }),
          workspaceId: Type.Optional(Type.String({ pattern: '^ws-[a-z0-9][a-z0-9-]{0,60}$', description: 'Defaults to a random ws-… id' })),
        }, { additionalProperties: false }),
        response: { 201: Envelope(AnyObject), ...errorResponses(400, 401, 403, 409) },
      },
    },
    async (req, reply) => {
      const w: WorkspaceRecord = { id: req.body.workspaceId ?? newWorkspaceId(), name: req.body.name, createdAt: now() };
      if (!(await deps.store.catalog.createWorkspace(w))) {
        throw new FlowgateError(failure('WORKSPACE_EXISTS', `Workspace ${w.id} already exists; POST /v1/workspaces/${w.id}/api-keys issues another key for it`));
      }
      const apiKey = await issueKey(w.id, 'first admin key', ['admin']);
      return sendOk(req, reply, { ...workspaceView(w), apiKey }, 201);
    },
  );

  app.get(
    '/v1/workspaces',
    {
      config: { instanceAdmin: true },
      schema: {
        tags,
        summary: 'List workspaces, oldest first',
        querystring: Type.Object({
          page: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1 }),
          pageSize: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
        }),
        response: { 200: Envelope(AnyObject), ...errorResponses(400, 401, 403) },
      },
    },
    async (req, reply) => {
      const { page, pageSize } = req.query;
      const r = await deps.store.catalog.listWorkspaces({ offset: (page - 1) * pageSize, limit: pageSize });
      return sendOk(req, reply, { workspaces: r.items.map(workspaceView), total: r.total, page, pageSize });
    },
  );

  app.get(
    '/v1/workspaces/:workspaceId',
    { config: { instanceAdmin: true }, schema: { tags, summary: 'Read a workspace', params: WorkspaceParams, response: { 200: Envelope(AnyObject), ...errorResponses(401, 403, 404) } } },
    async (req, reply) => sendOk(req, reply, workspaceView(await existing(req.params.workspaceId))),
  );

  app.patch(
    '/v1/workspaces/:workspaceId',
    {
      config: { instanceAdmin: true },
      schema: {
        tags,
        summary: 'Rename, disable or re-enable a workspace (a disabled one answers 403 WORKSPACE_DISABLED to its keys and webhooks)',
        params: WorkspaceParams,
        body: Type.Object({ name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })), disabled: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
        response: { 200: Envelope(AnyObject), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req, reply) => {
      const before = await existing(req.params.workspaceId);
      const { name, disabled } = req.body;
      // Disabling twice keeps the first time; enabling clears it.
      const disabledAt = disabled === undefined ? undefined : disabled ? (before.disabledAt ?? now()) : null;
      const w = await deps.store.catalog.updateWorkspace(before.id, { name, disabledAt });
      deps.workspaces.forget(before.id);
      return sendOk(req, reply, workspaceView(w!));
    },
  );

  app.post(
    '/v1/workspaces/:workspaceId/api-keys',
    {
      config: { instanceAdmin: true },
      schema: {
        tags,
        summary: "Issue an API key for a workspace, e.g. when its admins lost theirs (the secret is shown only in this response)",
        params: WorkspaceParams,
        body: Type.Object({ name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })), scopes: Type.Optional(Scopes) }, { additionalProperties: false }),
        response: { 201: Envelope(AnyObject), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req, reply) => {
      const w = await existing(req.params.workspaceId);
      return sendOk(req, reply, await issueKey(w.id, req.body.name ?? 'issued by the instance admin', req.body.scopes ?? ['admin']), 201);
    },
  );
};
