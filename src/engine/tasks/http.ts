import { FormData as UndiciFormData, request } from 'undici';
import type { Config } from '../../config.ts';
import { coerceError } from '../../errors.ts';
import type { HttpRequestDef, HttpTask } from '../../workflows/definition.ts';
import { Readable } from 'node:stream';
import type { TaskFiles } from '../../files/taskFiles.ts';
import { renderText, renderValue, toText, type EvalOptions } from '../expressions.ts';
import { evalOptions } from './evalOptions.ts';
import { MAX_RETRY_AFTER_MS } from '../retry.ts';
import { dispatcherFor, isSsrfError, literalHostBlocked } from '../ssrf.ts';
import type { CircuitBreakers } from '../breaker.ts';
import { abortCode, abortMessage, isRetryableAbort } from './abort.ts';
import { contractViolation } from './contract.ts';
import type { TaskInput, TaskOutcome } from './types.ts';

type RequestBody = string | Blob | UndiciFormData | undefined;

/**
 * The request body: `body` (JSON, or text when it renders to a string), `bodyFile` (the bytes of a
 * workspace file, sent with its type) or `multipart` (fields; a value that renders to a file is sent
 * as a file part).
 */
async function buildBody(def: HttpRequestDef, input: unknown, env: EvalOptions, headers: Record<string, string>, files?: TaskFiles): Promise<RequestBody> {
  if (def.bodyFile !== undefined) {
    if (!files) throw new Error('file bodies need file access');
    const { blob, file } = await files.blob(await renderValue(def.bodyFile, input, env));
    headers['content-type'] ??= file.type;
    return blob;
  }
  if (def.multipart !== undefined) {
    // undici's own FormData: its encoder is the one `request` knows how to stream.
    const form = new UndiciFormData();
    for (const [name, value] of Object.entries(def.multipart)) {
      const rendered = await renderValue(value, input, env);
      if (rendered && typeof rendered === 'object' && 'fileKey' in rendered) {
        if (!files) throw new Error('file parts need file access');
        const { blob, file } = await files.blob(rendered);
        form.append(name, blob, file.name);
      } else form.append(name, toText(rendered));
    }
    // The multipart boundary is chosen by the encoder, so no content-type of ours.
    delete headers['content-type'];
    return form;
  }
  if (def.body === undefined) return undefined;
  const rendered = await renderValue(def.body, input, env);
  if (typeof rendered === 'string') {
    headers['content-type'] ??= 'text/plain; charset=utf-8';
    return rendered;
  }
  headers['content-type'] ??= 'application/json';
  return JSON.stringify(rendered);
}

/** A produced file's name: the server's Content-Disposition filename, else the URL's last segment. */
function responseFileName(headers: Record<string, unknown>, url: URL): string {
  const cd = String(headers['content-disposition'] ?? '');
  const m = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(cd);
  const name = m?.[1] ?? decodeURIComponent(url.pathname.split('/').filter(Boolean).pop() ?? '');
  return name.replace(/[/\\]/g, '_').slice(0, 200) || 'response';
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[]>;
  body: unknown;
  /** The body as received (text), for tool results and excerpts. */
  text: string;
}

type Failed = Extract<TaskOutcome, { type: 'failed' }>;
export type HttpCallResult = ({ ok: true; response: HttpResponse } | { ok: false; failure: Failed }) & { request?: SentRequest };

/** The request as it went out, for the node's record: headers that carry credentials are masked. */
export interface SentRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: unknown;
}

const CREDENTIAL_HEADER = /^(authorization|proxy-authorization|cookie|x-api-key|api-key)$/i;
const BODY_RECORD_MAX = 4096;

function sentRequest(method: string, url: URL, headers: Record<string, string>, body: RequestBody): SentRequest {
  const shown: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) shown[k] = CREDENTIAL_HEADER.test(k) ? '[redacted]' : v;
  let recorded: unknown;
  if (typeof body === 'string') {
    const text = body.length > BODY_RECORD_MAX ? `${body.slice(0, BODY_RECORD_MAX)}… [${body.length} characters]` : body;
    try {
      recorded = body.length <= BODY_RECORD_MAX ? JSON.parse(body) : text;
    } catch {
      recorded = text;
    }
  } else if (body instanceof Blob) recorded = `[file, ${body.size} bytes]`;
  else if (body !== undefined) recorded = '[multipart form]';
  return { method, url: url.toString(), headers: shown, ...(recorded === undefined ? {} : { body: recorded }) };
}

/** These statuses may succeed on a later attempt; other 4xx will not. */
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
  opts: {
    config: Config;
    signal: AbortSignal;
    idempotencyKey?: string;
    breakers?: CircuitBreakers;
    evalOptions?: EvalOptions;
    files?: TaskFiles;
    /** Store the response body as an output file instead of reading it into the output. */
    saveAsFile?: boolean;
  },
): Promise<HttpCallResult | { deferred: Extract<TaskOutcome, { type: 'deferred' }> }> {
  const { config, signal } = opts;
  const env = opts.evalOptions ?? { env: config.templateEnv };
  let url: URL;
  let headers: Record<string, string>;
  let body: RequestBody;
  const hasBody = def.body !== undefined || def.bodyFile !== undefined || def.multipart !== undefined;
  const method = (def.method ?? (hasBody ? 'POST' : 'GET')).toUpperCase();
  try {
    url = new URL(await renderText(def.url, templateInput, env));
    for (const [k, v] of Object.entries(def.query ?? {})) url.searchParams.set(k, await renderText(v, templateInput, env));
    headers = {};
    for (const [k, v] of Object.entries(def.headers ?? {})) headers[k.toLowerCase()] = await renderText(v, templateInput, env);
    body = await buildBody(def, templateInput, env, headers, opts.files);
  } catch (e) {
    return failed('EXPRESSION_ERROR', `could not build the request: ${coerceError(e).message}`, false);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return failed('UPSTREAM_ERROR', `unsupported URL scheme ${url.protocol}`, false);
  const where = `${method} ${url.host}${url.pathname}`;
  const ssrf = literalHostBlocked(url, config.allowPrivateNetworks);
  if (ssrf) return failed('SSRF_BLOCKED', ssrf.message, false);
  if (opts.idempotencyKey) headers['idempotency-key'] = opts.idempotencyKey;
  const gate = opts.breakers?.check(url.host);
  if (gate && !gate.pass) return { deferred: { type: 'deferred', runAt: gate.until, reason: `circuit open for ${url.host}`, host: url.host } };
  const r = await send(url, method, headers, body, where, config, signal, opts.saveAsFile ? opts.files : undefined);
  // Only failures that say the host is unwell count: network errors, timeouts, 408/425/429/5xx.
  if (r.ok) opts.breakers?.success(url.host);
  else if (r.failure.retryable && r.failure.errCode !== 'EXECUTION_ABORTED') opts.breakers?.failure(url.host);
  return { ...r, request: sentRequest(method, url, headers, body) };
}

async function send(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: RequestBody,
  where: string,
  config: Config,
  signal: AbortSignal,
  saveTo?: TaskFiles,
): Promise<HttpCallResult> {
  try {
    const res = await request(url, {
      method: method as 'GET',
      headers,
      // A file body streams from storage rather than being read into memory first.
      body: body instanceof Blob ? Readable.fromWeb(body.stream() as never) : (body as string | undefined),
      signal,
      dispatcher: dispatcherFor(config.allowPrivateNetworks),
    });
    if (saveTo && res.statusCode >= 200 && res.statusCode < 300) {
      const type = String(res.headers['content-type'] ?? 'application/octet-stream');
      const file = await saveTo.save(res.body as unknown as Readable, { name: responseFileName(res.headers, url), type });
      return { ok: true, response: { status: res.statusCode, headers: res.headers as HttpResponse['headers'], body: { file }, text: '' } };
    }
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
    evalOptions: evalOptions(input),
    files: input.files,
    saveAsFile: input.task.saveAs === 'file',
  });
  if ('deferred' in r) return r.deferred;
  const sent = r.request;
  if (!r.ok) return { ...r.failure, input: sent };
  const { status, headers, body } = r.response;
  if (input.task.expect) {
    const violation = contractViolation(input.task.expect, body);
    // The third party changed its API: another attempt gets the same answer, so it is not retried.
    if (violation) return { type: 'failed', errCode: 'RESPONSE_CONTRACT_VIOLATION', message: `response does not match expect: ${violation}`, retryable: false, httpStatus: status, input: sent };
  }
  return { type: 'finished', output: { status, headers, body }, httpStatus: status, input: sent };
}
