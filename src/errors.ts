/**
 * The one registry of error codes. Every code a user can see — in an HTTP envelope or on a
 * node execution — is here with its HTTP status and default message. `docs/errors.md` is checked
 * against this table by `test/errors.registry.test.ts`, so a code cannot exist in one and not the other.
 * Codes are never reused once retired.
 */
export const ERRORS = {
  // Refly's own codes
  CANVAS_NOT_FOUND: { status: 404, message: 'Workflow not found' },
  INSUFFICIENT_CREDITS: { status: 402, message: 'Workspace run quota exhausted' },
  INVALID_REQUEST_BODY: { status: 400, message: 'Invalid request body' },
  BAD_REQUEST: { status: 400, message: 'The HTTP request is malformed' },
  REQUEST_TIMEOUT: { status: 408, message: 'The request was not received in time' },
  WEBHOOK_DISABLED: { status: 403, message: 'Webhook is disabled' },
  WEBHOOK_NOT_FOUND: { status: 404, message: 'Webhook not found' },
  WEBHOOK_RATE_LIMITED: { status: 429, message: 'Webhook rate limit exceeded' },
  // Flowgate's
  UNAUTHORIZED: { status: 401, message: 'Missing or invalid API key' },
  FORBIDDEN: { status: 403, message: 'API key lacks the required scope' },
  WORKFLOW_API_DISABLED: { status: 403, message: 'The API is disabled for this workflow' },
  WORKSPACE_NOT_FOUND: { status: 404, message: 'Workspace not found' },
  WORKSPACE_EXISTS: { status: 409, message: 'A workspace with this id already exists' },
  WORKSPACE_DISABLED: { status: 403, message: 'The workspace is disabled' },
  EXECUTION_NOT_FOUND: { status: 404, message: 'Execution not found' },
  NOT_FOUND: { status: 404, message: 'Route or object not found' },
  FILE_NOT_FOUND: { status: 400, message: 'File not found' },
  INVALID_VARIABLES: { status: 400, message: 'Invalid variables' },
  INVALID_WORKFLOW: { status: 400, message: 'Invalid workflow definition' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'Payload too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Unsupported media type' },
  RATE_LIMITED: { status: 429, message: 'Rate limit exceeded' },
  IDEMPOTENCY_KEY_REUSED: { status: 422, message: 'Idempotency-Key was already used with a different request body' },
  IDEMPOTENCY_IN_PROGRESS: { status: 409, message: 'A request with this Idempotency-Key is still being processed' },
  INVALID_SIGNATURE: { status: 401, message: 'Invalid or stale signature' },
  ENDPOINT_NOT_FOUND: { status: 404, message: 'Event endpoint not found' },
  ENDPOINT_URL_REFUSED: { status: 400, message: 'The endpoint URL is not allowed' },
  ENDPOINT_DISABLED: { status: 409, message: 'The event endpoint is disabled' },
  MESSAGE_NOT_FOUND: { status: 404, message: 'Event message not found' },
  SERVICE_OVERLOADED: { status: 503, message: 'Service overloaded, retry later' },
  SERVICE_UNAVAILABLE: { status: 503, message: 'Store unreachable' },
  INTERNAL_ERROR: { status: 500, message: 'Internal error' },
  // Node-level codes: recorded on a node execution and surfaced on the execution
  EXECUTION_ABORTED: { status: null, message: 'Execution aborted' },
  EXECUTION_TIMEOUT: { status: null, message: 'Execution timed out' },
  NODE_TIMEOUT: { status: null, message: 'Node timed out' },
  UPSTREAM_ERROR: { status: null, message: 'The downstream service failed' },
  RESPONSE_CONTRACT_VIOLATION: { status: null, message: 'The response did not match the declared contract' },
  MODEL_NOT_CONFIGURED: { status: null, message: 'No model provider is configured' },
  EXPRESSION_ERROR: { status: null, message: 'An expression failed to evaluate' },
  WORKER_LOST: { status: null, message: 'The worker running this node stopped before it finished' },
  CLIENT_CLOSED_REQUEST: { status: null, message: 'The client closed the connection before its request was read' },
  SSRF_BLOCKED: { status: null, message: 'The address is private or loopback and not allowed' },
} as const satisfies Record<string, { status: number | null; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** An error as a value: what services return and what the HTTP layer renders in the envelope. */
export interface Failure {
  code: ErrorCode;
  message: string;
  /** Extra structured detail, rendered as the envelope's `data` (e.g. per-field errors). */
  data?: unknown;
  /** Response headers that belong to this failure (e.g. Retry-After). */
  headers?: Record<string, string>;
}

export function failure(code: ErrorCode, message?: string, data?: unknown): Failure {
  return { code, message: message ?? ERRORS[code].message, ...(data === undefined ? {} : { data }) };
}

export type Result<T> = { ok: true; value: T } | { ok: false; error: Failure };

export const ok = <T>(value: T): Result<T> => ({ ok: true, value });
export const fail = <T = never>(code: ErrorCode, message?: string, data?: unknown): Result<T> => ({
  ok: false,
  error: failure(code, message, data),
});

/**
 * Thrown only at boundaries (route handlers) so Fastify's error handler renders the envelope.
 * Everything below the HTTP layer returns `Result` instead.
 */
export class FlowgateError extends Error {
  readonly code: ErrorCode;
  readonly data?: unknown;
  readonly headers?: Record<string, string>;
  constructor(f: Failure, headers?: Record<string, string>) {
    super(f.message);
    this.code = f.code;
    this.data = f.data;
    this.headers = headers ?? f.headers;
  }
  get statusCode(): number {
    // Node-level codes never reach a response on their own; if one does, it is our bug.
    return ERRORS[this.code].status ?? 500;
  }
}

/** Turns whatever a `catch` received into an Error with a message. */
export function coerceError(e: unknown): Error {
  if (e instanceof Error) return e;
  return new Error(typeof e === 'string' ? e : JSON.stringify(e));
}

export function isErrorCode(s: string): s is ErrorCode {
  return Object.prototype.hasOwnProperty.call(ERRORS, s);
}
