import { REPORTED_TRIGGERS } from '../store/store.ts';
import { Type, type TSchema } from 'typebox';

/** Shared TypeBox pieces: the envelope and common parameters, so every route documents the same shapes. */
export const ErrorEnvelope = Type.Object(
  {
    success: Type.Literal(false),
    errCode: Type.String({ description: 'One of the codes in docs/errors.md' }),
    errMsg: Type.String(),
    traceId: Type.String(),
    data: Type.Optional(Type.Unknown()),
  },
  { description: 'Refly error envelope' },
);

export function Envelope<T extends TSchema>(data: T) {
  return Type.Object({ success: Type.Literal(true), traceId: Type.String(), data });
}

/**
 * Serializes a route's answers with `JSON.stringify`: for the trigger routes, whose envelopes are
 * `Envelope(AnyObject)` and the error envelope, what fast-json-stringify's serializer writes too, for
 * about a quarter of its allocation (0.34 against 1.22 KB an answer). Their schemas still document them.
 */
export const plainJsonSerializer = () => (data: unknown) => JSON.stringify(data);

/** Loose object for documentation: the serializer keeps every field. */
export const AnyObject = Type.Object({}, { additionalProperties: true });

export const errorResponses = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [s, ErrorEnvelope])) as Record<number, typeof ErrorEnvelope>;

export const IdParam = (name: string, description: string) =>
  Type.Object({ id: Type.String({ minLength: 1, maxLength: 128, description }) }, { $id: undefined, title: name });

export const IdempotencyHeader = Type.Object({
  'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'Same key within 24 h returns the original execution' })),
});

/** The surface a run came through, as the client reports it (a label in history, never a permission). */
export const RunHeaders = Type.Object({
  ...IdempotencyHeader.properties,
  'flowgate-trigger': Type.Optional(
    Type.Union(REPORTED_TRIGGERS.map((t) => Type.Literal(t)), { description: 'Recorded as the run\'s `trigger` (default api); the CLI sends cli, the MCP tools mcp' }),
  ),
});

/** Refly caps page sizes at 100 instead of refusing more: accepted (finite, bounded) and clamped. */
export const REFLY_MAX_PAGE_SIZE = 100;
export const ReflyPageSize = Type.Integer({ minimum: 1, maximum: 1_000_000, default: 20, description: `Values above ${REFLY_MAX_PAGE_SIZE} are served as ${REFLY_MAX_PAGE_SIZE}` });
export const clampPageSize = (n: number): number => Math.min(n, REFLY_MAX_PAGE_SIZE);
