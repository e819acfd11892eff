import { Type, type Static, type TSchema } from 'typebox';

/**
 * The event catalog: every type Flowgate emits, with the JSON Schema of its body.
 * `GET /v1/event-types` serves it and `docs/events/<type>.json` mirrors it (a test keeps them equal).
 *
 * Versioning: a version only ever gains optional fields. Removing or retyping a field makes a new
 * version, announced in the changelog, and the old one is kept for at least one release.
 */
const Time = Type.String({ format: 'date-time' });
const Id = (description: string) => Type.String({ description });

const ExecutionData = Type.Object(
  {
    executionId: Id('The execution (we-…)'),
    canvasId: Id('The workflow'),
    status: Type.Union([Type.Literal('executing'), Type.Literal('finish'), Type.Literal('failed')]),
    trigger: Type.String({ description: 'api, webhook, retry, cli or schedule' }),
    errCode: Type.Optional(Type.String({ description: 'For execution.failed: a code from docs/errors.md' })),
    errMsg: Type.Optional(Type.String()),
    createdAt: Time,
    startedAt: Type.Optional(Time),
    finishedAt: Type.Optional(Time),
  },
  { additionalProperties: true },
);

const NodeData = Type.Object(
  {
    executionId: Id('The execution'),
    canvasId: Id('The workflow'),
    nodeId: Id('The task id in the workflow'),
    status: Type.Union([Type.Literal('finish'), Type.Literal('failed')]),
    attempt: Type.Integer({ minimum: 0, description: 'The attempt that ended the node' }),
    httpStatus: Type.Optional(Type.Integer()),
    errCode: Type.Optional(Type.String()),
    errMsg: Type.Optional(Type.String()),
  },
  { additionalProperties: true },
);

const DriftData = Type.Object(
  {
    executionId: Id('The execution'),
    canvasId: Id('The workflow'),
    nodeId: Id('The task id'),
    drift: Type.Object({}, { additionalProperties: true, description: 'The fields gone or changed, as on the node record' }),
  },
  { additionalProperties: true },
);

const WebhookReceivedData = Type.Object(
  {
    webhookId: Id('The webhook (wh_…)'),
    canvasId: Id('The workflow'),
    executionId: Id('The execution it started'),
    recordId: Id('The call record in the webhook history'),
    sourceIp: Type.Optional(Type.String()),
    bodySize: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: true },
);

const WebhookSilentData = Type.Object(
  {
    webhookId: Id('The webhook'),
    canvasId: Id('The workflow'),
    expectedEvery: Type.Integer({ description: 'Seconds, as configured' }),
    lastCallAt: Type.Optional(Time),
    silentForSeconds: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: true },
);

const EndpointDisabledData = Type.Object(
  {
    endpointId: Id('The endpoint (ep-…)'),
    url: Type.String(),
    reason: Type.String(),
    failingSince: Type.Optional(Time),
  },
  { additionalProperties: true },
);

/** Payload types derived from the catalog, so a builder in payloads.ts cannot drift from docs/events/. */
export type ExecutionEventData = Static<typeof ExecutionData>;
export type NodeEventData = Static<typeof NodeData>;
export type DriftEventData = Static<typeof DriftData>;
export type WebhookReceivedEventData = Static<typeof WebhookReceivedData>;
export type WebhookSilentEventData = Static<typeof WebhookSilentData>;
export type EndpointDisabledEventData = Static<typeof EndpointDisabledData>;

export interface EventType {
  type: string;
  version: number;
  description: string;
  data: TSchema;
}

export const EVENT_TYPES: readonly EventType[] = [
  { type: 'execution.started', version: 1, description: 'A worker started the first node of an execution.', data: ExecutionData },
  { type: 'execution.finished', version: 1, description: 'An execution ended with status finish.', data: ExecutionData },
  { type: 'execution.failed', version: 1, description: 'An execution ended with status failed (a node failed for good, or it was aborted or timed out).', data: ExecutionData },
  { type: 'node.finished', version: 1, description: 'A node finished.', data: NodeData },
  { type: 'node.failed', version: 1, description: 'A node failed for good: retries spent, a non-retryable error, or the execution was aborted or timed out.', data: NodeData },
  {
    type: 'node.contract_drift',
    version: 1,
    description: 'An http node without `expect` got a response whose shape differs from the previous one (a field gone, a type changed).',
    data: DriftData,
  },
  {
    type: 'webhook.received',
    version: 1,
    description: 'A webhook call was accepted and started an execution (duplicates and rejected calls are not reported).',
    data: WebhookReceivedData,
  },
  {
    type: 'webhook.silent',
    version: 1,
    description: 'A webhook with `expectedEvery` received nothing for that long. Emitted once per silence; the next accepted call re-arms it.',
    data: WebhookSilentData,
  },
  {
    type: 'endpoint.disabled',
    version: 1,
    description: 'An event endpoint was disabled: it answered 410 Gone, or failed continuously for FLOWGATE_ENDPOINT_DISABLE_AFTER_MS (5 days).',
    data: EndpointDisabledData,
  },
];

export const EVENT_TYPE_NAMES: readonly string[] = EVENT_TYPES.map((e) => e.type);

/** The JSON Schema of a whole event body `{type, timestamp, data}`, as published in docs/events/. */
export function eventSchema(e: EventType): Record<string, unknown> {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: `https://flowgate.dev/events/${e.type}.v${e.version}.json`,
    title: `${e.type} (v${e.version})`,
    description: e.description,
    type: 'object',
    required: ['type', 'timestamp', 'data'],
    properties: {
      type: { const: e.type },
      timestamp: { type: 'string', format: 'date-time' },
      data: JSON.parse(JSON.stringify(e.data)),
    },
  };
}
