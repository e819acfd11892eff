import { Type } from 'typebox';
import { failure, FlowgateError } from '../../errors.ts';
import { apiKeyView as keyView, mintApiKey } from '../../apiKeys.ts';
import type { App, AppDeps } from '../app.ts';
import { sendOk } from '../envelope.ts';
import { AnyObject, Envelope, errorResponses } from '../schemas.ts';

/** API keys of the caller's workspace; the secret is returned once, on create, and stored hashed. */
export const apiKeyRoutes = (deps: AppDeps) => async (app: App) => {
  const now = deps.now ?? Date.now;
  app.post(
    '/v1/api-keys',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['api keys'],
        summary: 'Create an API key (the secret is shown only in this response)',
        body: Type.Object({
          name: Type.String({ minLength: 1, maxLength: 200 }),
          scopes: Type.Optional(Type.Array(Type.Union([Type.Literal('run'), Type.Literal('read'), Type.Literal('admin')]), { minItems: 1, uniqueItems: true })),
        }, { additionalProperties: false }),
        response: { 201: Envelope(AnyObject), ...errorResponses(400, 401, 403) },
      },
    },
    async (req, reply) => {
      const { record, secret } = mintApiKey({ workspaceId: req.apiKey.workspaceId, name: req.body.name, scopes: req.body.scopes ?? ['run', 'read'], createdAt: now() });
      await deps.store.catalog.createApiKey(record);
      return sendOk(req, reply, { ...keyView(record), secret }, 201);
    },
  );
  app.get('/v1/api-keys', { config: { scope: 'admin' }, schema: { tags: ['api keys'], summary: 'List API keys (never their secrets)' } }, async (req, reply) =>
    sendOk(req, reply, { keys: (await deps.store.catalog.listApiKeys(req.apiKey.workspaceId)).map(keyView) }),
  );
  // The console asks this after sign-in to know which buttons the key may press.
  app.get(
    '/v1/api-keys/current',
    { config: { scope: 'read' }, schema: { tags: ['api keys'], summary: 'The key this request is signed with: its workspace and scopes (never its secret)' } },
    async (req, reply) => sendOk(req, reply, { ...keyView(req.apiKey), workspaceId: req.apiKey.workspaceId }),
  );
  app.delete(
    '/v1/api-keys/:id',
    { config: { scope: 'admin' }, schema: { tags: ['api keys'], summary: 'Revoke an API key', params: Type.Object({ id: Type.String({ maxLength: 64 }) }) } },
    async (req, reply) => {
      const gone = await deps.store.catalog.deleteApiKey(req.apiKey.workspaceId, req.params.id);
      deps.apiKeys.clear();
      if (!gone) throw new FlowgateError(failure('NOT_FOUND', `API key ${req.params.id} not found`));
      return sendOk(req, reply, { id: req.params.id, deleted: true });
    },
  );
};
