import type { FastifyReply, FastifyRequest } from 'fastify';
import { ERRORS, type ErrorCode, type Failure } from '../errors.ts';

/**
 * Refly's envelope: every `/v1/**` answer, success or error, is
 * `{ success, errCode?, errMsg?, traceId, data? }` with the HTTP status of the outcome.
 */
export function sendOk(req: FastifyRequest, reply: FastifyReply, data: unknown, status = 200): FastifyReply {
  return reply.code(status).send({ success: true, traceId: req.id, data });
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The error code this request was answered with, for logs and webhook history. */
    errCode?: ErrorCode;
  }
}

export function sendFailure(req: FastifyRequest, reply: FastifyReply, f: Failure, headers?: Record<string, string>): FastifyReply {
  if (headers ?? f.headers) reply.headers(headers ?? f.headers!);
  req.errCode = f.code;
  const body: Record<string, unknown> = { success: false, errCode: f.code, errMsg: f.message, traceId: req.id };
  if (f.data !== undefined) body.data = f.data;
  return reply.code(ERRORS[f.code].status ?? 500).send(body);
}
