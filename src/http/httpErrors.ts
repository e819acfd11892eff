import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { failure, FlowgateError, type Failure } from '../errors.ts';
import { newTraceId } from '../ids.ts';
import { isStoreUnavailable } from '../store/unavailable.ts';
import type { App } from './app.ts';
import { sendFailure } from './envelope.ts';

/**
 * Every answer, even to a request Fastify or Node's HTTP parser rejects, is the envelope with a code
 * from the registry: never a 5xx for bad input, never a framework's own body.
 */
export function registerErrorHandling(app: App): void {
  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof FlowgateError) {
      return sendFailure(req, reply, { code: err.code, message: err.message, data: err.data }, err.headers);
    }
    if (clientWentAway(err, req)) {
      // Nobody is left to answer; not a server error either.
      req.log.info({ code: (err as { code?: string }).code }, 'client closed the connection before the request was read');
      return sendFailure(req, reply, failure('BAD_REQUEST', 'The client closed the connection mid-request'));
    }
    if (isStoreUnavailable(err)) {
      req.log.error({ err }, 'store unavailable');
      return sendFailure(req, reply, failure('SERVICE_UNAVAILABLE'), { 'retry-after': '1' });
    }
    const f = toFailure(err, req, app.initialConfig.bodyLimit ?? 0);
    // 5xx never carry internal details to the caller; the log has them, keyed by traceId.
    if (f.code === 'INTERNAL_ERROR') req.log.error({ err }, 'unhandled error');
    return sendFailure(req, reply, f);
  });
  app.setNotFoundHandler((req, reply) => sendFailure(req, reply, failure('NOT_FOUND', `No route ${req.method} ${req.url.split('?')[0]}`)));

  // Ajv coerces "Infinity" and "1e400" to numbers that pass `maximum`; they must not reach SQL. Nor
  // may a NUL character, which PostgreSQL text cannot hold. A callback, not an async hook: every
  // request runs it.
  app.addHook('preValidation', (req, _reply, done) => {
    const bad = nulParameter('path', req.params) ?? nulParameter('query', req.query) ?? nonFiniteQueryNumber(req);
    done(bad ? new FlowgateError(failure('INVALID_REQUEST_BODY', bad)) : undefined);
  });
}

/** Longest path parameter the router takes; longer is `BAD_REQUEST` (ids are far shorter). */
export const MAX_PARAM_LENGTH = 500;

/** Errors of the router, before any route runs (Fastify's `frameworkErrors`). */
export function frameworkErrors(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  const message =
    err.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? `A path parameter is longer than ${MAX_PARAM_LENGTH} characters`
      : err.code === 'FST_ERR_BAD_URL'
        ? 'The path is not valid (bad percent-encoding?)'
        : 'The request could not be routed';
  void sendFailure(req, reply, failure('BAD_REQUEST', message));
}

/**
 * Requests Node's HTTP parser rejects, and requests not received within the request timeout (Fastify's
 * `clientErrorHandler`): answered in the envelope on the raw socket, then closed.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || err.code === 'EPIPE' || !socket.writable) {
    socket.destroy();
    return;
  }
  const timedOut = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
  const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
  const status = timedOut ? 408 : tooLarge ? 431 : 400;
  const f = timedOut
    ? failure('REQUEST_TIMEOUT')
    : failure('BAD_REQUEST', tooLarge ? 'The request headers are too large' : `The HTTP request is malformed (${err.code ?? 'parse error'})`);
  const traceId = newTraceId();
  const body = JSON.stringify({ success: false, errCode: f.code, errMsg: f.message, traceId });
  const reason = timedOut ? 'Request Timeout' : tooLarge ? 'Request Header Fields Too Large' : 'Bad Request';
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nX-Trace-Id: ${traceId}\r\nConnection: close\r\n\r\n${body}`,
  );
}

const clientWentAway = (err: FastifyError, req: FastifyRequest) =>
  (err as { code?: string }).code === 'ECONNRESET' || err.message === 'aborted' || (req.raw.destroyed && !req.raw.complete);

/** Where the body's content type was refused, what to send instead. */
function mediaTypeAdvice(req: FastifyRequest): string {
  const url = req.routeOptions.url ?? '';
  const sent = req.headers['content-type'];
  if (url.endsWith('/files/upload')) return 'Send multipart/form-data with the files in the field "files"';
  const what = url.startsWith('/v1/workflows') ? 'application/json or application/yaml' : 'application/json';
  if (!sent) return `The body has no Content-Type: send ${what}`;
  if (/^text\/plain/i.test(sent)) return `text/plain is not accepted: send ${what}`;
  if (/^multipart\//i.test(sent)) return `multipart bodies are only for /v1/openapi/files/upload: send ${what}`;
  return `Send ${what} (got ${sent.slice(0, 100)})`;
}

/** Maps Fastify's and its plugins' errors onto our codes so that every failure is one of the registry's. */
function toFailure(err: FastifyError, req: FastifyRequest, bodyLimit: number): Failure {
  // Fastify prefixes the part of the request: "querystring/page must be >= 1".
  if (err.validation) return failure('INVALID_REQUEST_BODY', err.message);
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return failure('PAYLOAD_TOO_LARGE', `Request body exceeds the limit of ${bodyLimit} bytes`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return failure('UNSUPPORTED_MEDIA_TYPE', mediaTypeAdvice(req));
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return failure('INVALID_REQUEST_BODY', err.message);
    case 'FST_REQ_FILE_TOO_LARGE':
    case 'FST_FILES_LIMIT':
    case 'FST_PARTS_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return failure('PAYLOAD_TOO_LARGE', err.message);
  }
  if (err.statusCode === 413) return failure('PAYLOAD_TOO_LARGE');
  if (err.statusCode === 415) return failure('UNSUPPORTED_MEDIA_TYPE', mediaTypeAdvice(req));
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return failure('INVALID_REQUEST_BODY', err.message);
  return failure('INTERNAL_ERROR');
}

/** A parameter holding NUL, which PostgreSQL text cannot store: what to tell the caller. */
function nulParameter(part: 'path' | 'query', values: unknown): string | undefined {
  if (!values) return undefined;
  const record = values as Record<string, unknown>;
  for (const name in record) {
    const v = record[name];
    if (typeof v === 'string' && v.includes('\u0000')) return `${part} parameter ${name} must not contain a NUL character`;
  }
  return undefined;
}

/** A numeric query parameter Ajv would coerce to a non-finite number ("Infinity", "1e400"). */
function nonFiniteQueryNumber(req: FastifyRequest): string | undefined {
  const props = (req.routeOptions.schema?.querystring as { properties?: Record<string, { type?: string }> } | undefined)?.properties;
  if (!props) return undefined;
  const query = req.query as Record<string, unknown>;
  for (const name in props) {
    const s = props[name]!;
    if (s.type !== 'integer' && s.type !== 'number') continue;
    const v = query[name];
    if (typeof v === 'string' && v.trim() !== '' && !Number.isFinite(Number(v))) return `query parameter ${name} must be a finite number`;
  }
  return undefined;
}
