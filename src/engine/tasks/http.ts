import { request } from 'undici';
import type { Config } from '../../config.ts';
import { coerceError } from '../../errors.ts';
import type { HttpRequestDef, HttpTask } from '../../workflows/definition.ts';
import { renderText, renderValue } from '../expressions.ts';
import { MAX_RETRY_AFTER_MS } from '../retry.ts';
import { dispatcherFor, isSsrfError, literalHostBlocked } from '../ssrf.ts';
import type { CircuitBreakers } from '../breaker.ts';
import { abortCode, abortMessage, isRetryableAbort } from './abort.ts';
import { contractViolation } from './contract.ts';
import type { TaskInput, TaskOutcome } from './types.ts';

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[]>;
  body: unknown;
  /** The body as received (text), for tool results and excerpts. */
  text: string;
}

type Failed = Extract<TaskOutcome, { type: 'failed' }>;
export type HttpCallResult = { ok: true; response: HttpResponse } | { ok: false; failure: Failed };

/** SPEC §4.3: these statuses may succeed on a later attempt; other 4xx will not. */
const RETRYABLE_STATUS = new Set([408, 425, 429]);
export const isRetryableStatus = (s: number): boolean => RETRYABLE_STATUS.has(s) || s >= 500;

/** `Retry-After` as seconds or an HTTP date, in ms from `now`; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  const ms = /^\s*\d+(\.\d+)?\s*$/.test(v) ? Number(v) * 1000 : Date.parse(v) - now;
  if (!Number.isFinite(ms)) return undefined;
  return Math.min(Math.max(0, Math.round(ms)), MAX_RETRY_AFTER_MS);
}

const failed = (errCode: Failed['errCode'], message: string, retryable: boolean, extra: Partial<Failed> = {}): HttpCallResult => ({
  ok: false,
  failure: { type: 'failed', errCode, message, retryable, ...extra },
});

async function readCapped(body: AsyncIterable<Buffer> & { destroy(): void }, max: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > max) {
      body.destroy();
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * Renders and sends one templated request (an `http` task or an agent's tool). Never throws: every
 * failure is classified into a code and whether another attempt could help.
 */
export async function performHttpRequest(
  def: HttpRequestDef,
  templateInput: unknown,
  opts: { config: Config; signal: AbortSignal; idempotencyKey?: string; breakers?: CircuitBreakers },
): Promise<HttpCallResult | { deferred: Extract<TaskOutcome, { type: 'deferred' }> }> {
  const { config, signal } = opts;
  const env = { env: config.templateEnv };
  let url: URL;
  let headers: Record<string, string>;
  let body: string | undefined;
  const method = (def.method ?? (def.body === undefined ? 'GET' : 'POST')).toUpperCase();
  try {
    url = new URL(await renderText(def.url, templateInput, env));
    for (const [k, v] of Object.entries(def.query ?? {})) url.searchParams.set(k, await renderText(v, templateInput, env));
    headers = {};
    for (const [k, v] of Object.entries(def.headers ?? {})) headers[k.toLowerCase()] = await renderText(v, templateInput, env);
    if (def.body !== undefined) {
      const rendered = await renderValue(def.body, templateInput, env);
      if (typeof rendered === 'string') {
        body = rendered;
        headers['content-type'] ??= 'text/plain; charset=utf-8';
      } else {
        body = JSON.stringify(rendered);
        headers['content-type'] ??= 'application/json';
      }
    }
  } catch (e) {
    return failed('EXPRESSION_ERROR', `could not build the request: ${coerceError(e).message}`, false);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return failed('UPSTREAM_ERROR', `unsupported URL scheme ${url.protocol}`, false);
  const where = `${method} ${url.host}${url.pathname}`;
  const ssrf = literalHostBlocked(url, config.allowPrivateNetworks);
  if (ssrf) return failed('SSRF_BLOCKED', ssrf.message, false);
  if (opts.idempotencyKey) headers['idempotency-key'] = opts.idempotencyKey;
  const gate = opts.breakers?.check(url.host);
  if (gate && !gate.pass) return { deferred: { type: 'deferred', runAt: gate.until, reason: `circuit open for ${url.host}` } };
  const r = await send(url, method, headers, body, where, config, signal);
  // Only failures that say the host is unwell count: network errors, timeouts, 408/425/429/5xx.
  if (r.ok) opts.breakers?.success(url.host);
  else if (r.failure.retryable && r.failure.errCode !== 'EXECUTION_ABORTED') opts.breakers?.failure(url.host);
  return r;
}

async function send(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
  where: string,
  config: Config,
  signal: AbortSignal,
): Promise<HttpCallResult> {

  try {
    const res = await request(url, {
      method: method as 'GET',
      headers,
      body,
      signal,
      dispatcher: dispatcherFor(config.allowPrivateNetworks),
    });
    const raw = await readCapped(res.body as never, config.maxResponseBytes);
    if (!raw) return failed('UPSTREAM_ERROR', `${where}: response larger than ${config.maxResponseBytes} bytes`, false, { httpStatus: res.statusCode });
    const text = raw.toString('utf8');
    const contentType = String(res.headers['content-type'] ?? '');
    let parsed: unknown = text;
    if (/json/i.test(contentType) && text.length > 0) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    const response: HttpResponse = { status: res.statusCode, headers: res.headers as HttpResponse['headers'], body: parsed, text };
    if (res.statusCode >= 200 && res.statusCode < 300) return { ok: true, response };
    const retryable = isRetryableStatus(res.statusCode);
    return failed('UPSTREAM_ERROR', `${where} answered ${res.statusCode}`, retryable, {
      httpStatus: res.statusCode,
      retryAfterMs: retryable ? parseRetryAfter(res.headers['retry-after']) : undefined,
    });
  } catch (e) {
    if (signal.aborted) {
      const code = abortCode(signal);
      return failed(code, `${where}: ${abortMessage(code)}`, isRetryableAbort(code));
    }
    if (isSsrfError(e)) return failed('SSRF_BLOCKED', coerceError(e).message, false);
    const err = coerceError(e);
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return failed('UPSTREAM_ERROR', `${where}: ${cause?.code ?? (err as { code?: string }).code ?? err.message}`, true);
  }
}

/** The `http` task: output `{status, headers, body}`; the Idempotency-Key is stable across attempts. */
export async function runHttp(input: TaskInput<HttpTask>): Promise<TaskOutcome> {
  const r = await performHttpRequest(input.task.request, input.context, {
    config: input.config,
    signal: input.signal,
    idempotencyKey: `${input.executionId}:${input.task.id}`,
    breakers: input.breakers,
  });
  if ('deferred' in r) return r.deferred;
  if (!r.ok) return r.failure;
  const { status, headers, body } = r.response;
  if (input.task.expect) {
    const violation = contractViolation(input.task.expect, body);
    // The third party changed its API: another attempt gets the same answer, so it is not retried.
    if (violation) return { type: 'failed', errCode: 'RESPONSE_CONTRACT_VIOLATION', message: `response does not match expect: ${violation}`, retryable: false, httpStatus: status };
  }
  return { type: 'finished', output: { status, headers, body }, httpStatus: status };
}
