import { Type } from 'typebox';
import { checkEndpointUrl } from '../../delivery/endpointUrl.ts';
import { exampleEvent } from '../../delivery/examples.ts';
import { EVENT_TYPE_NAMES, EVENT_TYPES, eventSchema } from '../../delivery/eventTypes.ts';
import { failure, FlowgateError } from '../../errors.ts';
import { newEndpointId, newEndpointSecret } from '../../ids.ts';
import type { EndpointPatch, EndpointRecord, MessageStatus } from '../../store/delivery.ts';
import type { MessageWithAttempts } from '../../store/store.ts';
import { iso } from '../../runs/views.ts';
import type { App, AppDeps } from '../app.ts';
import { sendOk } from '../envelope.ts';
import { AnyObject, Envelope, errorResponses } from '../schemas.ts';


/** Never includes a secret: secrets are shown on create and on rotate only. */
export const endpointView = (e: EndpointRecord) => ({
  id: e.id,
  url: e.url,
  description: e.description,
  eventTypes: e.eventTypes,
  enabled: e.enabled,
  ordered: e.ordered,
  headers: e.headers,
  rateLimit: e.rateLimit,
  disabledReason: e.disabledReason,
  failingSince: iso(e.failingSince),
  secretRotatingUntil: e.previousSecret && (e.previousSecretExpiresAt ?? 0) > Date.now() ? iso(e.previousSecretExpiresAt) : undefined,
  executionId: e.executionId,
  createdAt: iso(e.createdAt),
  updatedAt: iso(e.updatedAt),
});

export const messageView = (m: MessageWithAttempts) => ({
  id: m.id,
  endpointId: m.endpointId,
  eventType: m.eventType,
  executionId: m.executionId,
  status: m.status,
  attempts: m.attemptLog.map((a) => ({
    attempt: a.attempt,
    outcome: a.outcome,
    httpStatus: a.httpStatus,
    latencyMs: a.latencyMs,
    error: a.error,
    response: a.responseExcerpt,
    startTime: iso(a.startedAt),
    endTime: iso(a.finishedAt),
  })),
  nextAttemptAt: m.status === 'pending' ? iso(m.nextAttemptAt) : undefined,
  lastError: m.lastError,
  payload: JSON.parse(m.payload) as unknown,
  createdAt: iso(m.createdAt),
});

const EventTypeList = Type.Array(Type.Union(EVENT_TYPE_NAMES.map((t) => Type.Literal(t))), { uniqueItems: true, minItems: 1 });
const Headers = Type.Record(Type.String({ pattern: '^[A-Za-z0-9-]{1,64}$' }), Type.String({ maxLength: 1024 }), { description: 'Sent with every delivery; cannot replace webhook-* or content-type' });
const endpointFields = {
  url: Type.String({ minLength: 1, maxLength: 2048 }),
  description: Type.Optional(Type.String({ maxLength: 500 })),
  eventTypes: Type.Optional(EventTypeList),
  enabled: Type.Optional(Type.Boolean()),
  ordered: Type.Optional(Type.Boolean({ description: 'Deliver strictly in order: each message waits for the previous to succeed or be given up' })),
  headers: Type.Optional(Headers),
  rateLimit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, description: 'Deliveries per second (per worker process)' })),
};
const EpParam = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
const MessageStatusQ = Type.Union(['pending', 'delivering', 'succeeded', 'failed', 'skipped'].map((s) => Type.Literal(s)));

/** Outbound event endpoints, their messages, replay and recovery. */
export const eventEndpointRoutes = (deps: AppDeps) => async (app: App) => {
  const now = deps.now ?? Date.now;
  const tags = ['events'];
  const allowPrivate = deps.config.allowPrivateNetworks;
  const checkedUrl = async (url: string) => {
    const r = await checkEndpointUrl(url, allowPrivate);
    if (!r.ok) throw new FlowgateError(r.error);
    return r.value;
  };
  const found = async (ws: string, id: string) => {
    const e = await deps.store.outbox.getEndpoint(ws, id);
    if (!e || e.executionId) throw new FlowgateError(failure('ENDPOINT_NOT_FOUND', `Event endpoint ${id} not found`));
    return e;
  };

  app.post(
    '/v1/event-endpoints',
    {
      config: { scope: 'admin' },
      schema: {
        tags,
        summary: 'Create an event endpoint (its whsec_ secret is shown only here and on rotate)',
        body: Type.Object(endpointFields, { additionalProperties: false }),
        response: { 201: Envelope(AnyObject), ...errorResponses(400, 401, 403) },
      },
    },
    async (req, reply) => {
      const b = req.body;
      const t = now();
      const endpoint: EndpointRecord = {
        id: newEndpointId(),
        workspaceId: req.apiKey.workspaceId,
        url: await checkedUrl(b.url),
        description: b.description,
        eventTypes: b.eventTypes,
        enabled: b.enabled ?? true,
        ordered: b.ordered ?? false,
        headers: b.headers,
        rateLimit: b.rateLimit,
        secret: newEndpointSecret(),
        createdAt: t,
        updatedAt: t,
      };
      await deps.store.outbox.createEndpoint(endpoint);
      return sendOk(req, reply, { ...endpointView(endpoint), secret: endpoint.secret }, 201);
    },
  );

  app.get('/v1/event-endpoints', { config: { scope: 'admin' }, schema: { tags, summary: 'List event endpoints (never their secrets)' } }, async (req, reply) =>
    sendOk(req, reply, { endpoints: (await deps.store.outbox.listEndpoints(req.apiKey.workspaceId)).map(endpointView) }),
  );

  app.get('/v1/event-endpoints/:id', { config: { scope: 'admin' }, schema: { tags, summary: 'Read an event endpoint', params: EpParam } }, async (req, reply) =>
    sendOk(req, reply, endpointView(await found(req.apiKey.workspaceId, req.params.id))),
  );

  app.patch(
    '/v1/event-endpoints/:id',
    {
      config: { scope: 'admin' },
      schema: {
        tags,
        summary: 'Update an event endpoint; `enabled: true` re-enables a disabled one (then `recover` what it missed)',
        params: EpParam,
        body: Type.Object(
          {
            ...endpointFields,
            url: Type.Optional(endpointFields.url),
            description: Type.Optional(Type.Union([Type.Null(), Type.String({ maxLength: 500 })])),
            eventTypes: Type.Optional(Type.Union([Type.Null(), EventTypeList])),
            headers: Type.Optional(Type.Union([Type.Null(), Headers])),
            rateLimit: Type.Optional(Type.Union([Type.Null(), Type.Integer({ minimum: 1, maximum: 10_000 })])),
          },
          { additionalProperties: false, minProperties: 1 },
        ),
      },
    },
    async (req, reply) => {
      const ws = req.apiKey.workspaceId;
      await found(ws, req.params.id);
      const patch = { ...req.body } as EndpointPatch;
      if (patch.url !== undefined) patch.url = await checkedUrl(patch.url);
      const updated = await deps.store.outbox.updateEndpoint(ws, req.params.id, patch, now());
      if (!updated) throw new FlowgateError(failure('ENDPOINT_NOT_FOUND'));
      return sendOk(req, reply, endpointView(updated));
    },
  );

  app.delete('/v1/event-endpoints/:id', { config: { scope: 'admin' }, schema: { tags, summary: 'Delete an event endpoint (pending messages are given up)', params: EpParam } }, async (req, reply) => {
    await found(req.apiKey.workspaceId, req.params.id);
    await deps.store.outbox.deleteEndpoint(req.apiKey.workspaceId, req.params.id, now());
    return sendOk(req, reply, { id: req.params.id, deleted: true });
  });

  app.post(
    '/v1/event-endpoints/:id/rotate-secret',
    {
      config: { scope: 'admin' },
      schema: {
        tags,
        summary: 'Rotate the signing secret; the old one keeps signing (a second v1 signature) during the grace period',
        params: EpParam,
        body: Type.Optional(
          Type.Object({ graceSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 7 * 24 * 3600, default: 86_400 })) }, { additionalProperties: false }),
        ),
      },
    },
    async (req, reply) => {
      const ws = req.apiKey.workspaceId;
      await found(ws, req.params.id);
      const t = now();
      const grace = (req.body?.graceSeconds ?? 86_400) * 1000;
      const rotated = await deps.store.outbox.rotateEndpointSecret(ws, req.params.id, newEndpointSecret(), t + grace, t);
      if (!rotated) throw new FlowgateError(failure('ENDPOINT_NOT_FOUND'));
      return sendOk(req, reply, { id: rotated.id, secret: rotated.secret, previousSecretExpiresAt: iso(t + grace) });
    },
  );

  app.get(
    '/v1/event-endpoints/:id/messages',
    {
      config: { scope: 'admin' },
      schema: {
        tags,
        summary: 'Messages sent (or to be sent) to an endpoint, newest first, each with every attempt',
        params: EpParam,
        querystring: Type.Object({
          status: Type.Optional(MessageStatusQ),
          cursor: Type.Optional(Type.String({ maxLength: 64 })),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
        }),
      },
    },
    async (req, reply) => {
      const ws = req.apiKey.workspaceId;
      await found(ws, req.params.id);
      const limit = req.query.limit ?? 20;
      const messages = await deps.store.outbox.listMessages({
        workspaceId: ws,
        endpointId: req.params.id,
        status: req.query.status as MessageStatus | undefined,
        cursor: req.query.cursor,
        limit,
      });
      return sendOk(req, reply, { messages: messages.map(messageView), nextCursor: messages.length === limit ? messages.at(-1)!.id : undefined });
    },
  );

  app.post(
    '/v1/event-endpoints/:id/recover',
    {
      config: { scope: 'admin' },
      schema: {
        tags,
        summary: 'Re-send every failed or skipped message of this endpoint created since a time',
        params: EpParam,
        body: Type.Object({ since: Type.String({ format: 'date-time' }) }, { additionalProperties: false }),
      },
    },
    async (req, reply) => {
      const ws = req.apiKey.workspaceId;
      await found(ws, req.params.id);
      const r = await deps.store.outbox.recoverMessages(ws, req.params.id, Date.parse(req.body.since), now());
      if (r === 'endpoint_disabled') throw new FlowgateError(failure('ENDPOINT_DISABLED', 'Re-enable the endpoint before recovering its messages'));
      if (r === 'not_found') throw new FlowgateError(failure('ENDPOINT_NOT_FOUND'));
      return sendOk(req, reply, { id: req.params.id, recovered: r });
    },
  );

  app.post(
    '/v1/event-endpoints/:id/test',
    {
      config: { scope: 'admin' },
      schema: {
        tags,
        summary: 'Send a signed example event to this endpoint now (data.test is true), whatever it subscribes to',
        params: EpParam,
        body: Type.Object({ eventType: Type.Optional(Type.Union(EVENT_TYPE_NAMES.map((t) => Type.Literal(t)), { default: 'execution.finished' })) }, { additionalProperties: false }),
      },
      // The body is optional: no body means the default event type.
      preValidation: async (req) => {
        req.body ??= {};
      },
    },
    async (req, reply) => {
      const ws = req.apiKey.workspaceId;
      const eventType = req.body.eventType ?? 'execution.finished';
      const r = await deps.store.outbox.enqueueForEndpoint(req.params.id, exampleEvent(eventType, ws, now()));
      if (r === 'not_found') throw new FlowgateError(failure('ENDPOINT_NOT_FOUND'));
      if (r === 'endpoint_disabled') throw new FlowgateError(failure('ENDPOINT_DISABLED', 'Enable the endpoint to send it a test event'));
      return sendOk(req, reply, { endpointId: req.params.id, messageId: r, eventType, status: 'pending' }, 202);
    },
  );

  app.post(
    '/v1/messages/:id/replay',
    { config: { scope: 'admin' }, schema: { tags, summary: 'Send a message again (same webhook-id, a fresh retry schedule)', params: EpParam } },
    async (req, reply) => {
      const r = await deps.store.outbox.replayMessage(req.apiKey.workspaceId, req.params.id, now());
      if (r === 'not_found') throw new FlowgateError(failure('MESSAGE_NOT_FOUND', `Message ${req.params.id} not found`));
      if (r === 'endpoint_disabled') throw new FlowgateError(failure('ENDPOINT_DISABLED', 'Re-enable the endpoint before replaying its messages'));
      // A message still pending or in flight is already going to be sent: replaying it changes nothing.
      return sendOk(req, reply, { id: req.params.id, status: 'pending', replayed: r === 'replayed' });
    },
  );

  app.get('/v1/event-types', { config: { scope: 'admin' }, schema: { tags, summary: 'The event catalog: every type with the JSON Schema of its body' } }, async (req, reply) =>
    sendOk(req, reply, { eventTypes: EVENT_TYPES.map((e) => ({ type: e.type, version: e.version, description: e.description, schema: eventSchema(e) })) }),
  );
};
