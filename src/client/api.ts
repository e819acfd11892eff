import type { REPORTED_TRIGGERS } from '../store/store.ts';

/**
 * A client of Flowgate's public API, shared by the CLI and the MCP tools (which reach the server
 * in-process through the same calls, so scopes and validation are the server's own). Answers are
 * unwrapped from the envelope; failures come back as values with the server's error code.
 */
export interface ApiFailure {
  code: string;
  message: string;
  status: number;
  /** The envelope's `data` on a failure, e.g. INVALID_VARIABLES's `{errors: [{field, code, message}]}`. */
  data?: unknown;
}

export type ApiResult<T> = { ok: true; value: T } | { ok: false; error: ApiFailure };

/** What the client needs from `fetch`; the MCP route passes one backed by `app.inject`. */
export type Fetch = (url: string, init: { method: string; headers: Record<string, string>; body?: string }) => Promise<{ status: number; text(): Promise<string> }>;

export interface ClientOptions {
  baseUrl: string;
  apiKey?: string;
  /** Recorded as the run's trigger (docs/api.md: Flowgate-Trigger). */
  trigger?: (typeof REPORTED_TRIGGERS)[number];
  fetch?: Fetch;
}

export class FlowgateClient {
  readonly baseUrl: string;
  constructor(private readonly opts: ClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
  }

  async call<T>(method: string, path: string, opts: { body?: unknown; query?: Record<string, unknown>; headers?: Record<string, string> } = {}): Promise<ApiResult<T>> {
    const url = new URL(this.baseUrl + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
    if (this.opts.apiKey) headers.authorization = `Bearer ${this.opts.apiKey}`;
    if (this.opts.trigger) headers['flowgate-trigger'] = this.opts.trigger;
    let body: string | undefined;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['content-type'] = 'application/json';
    }
    let res: { status: number; text(): Promise<string> };
    try {
      res = await (this.opts.fetch ?? (globalThis.fetch as unknown as Fetch))(url.toString(), { method, headers, body });
    } catch (e) {
      // undici wraps the socket error; with several addresses tried it is an AggregateError of them.
      const c = (e as { cause?: { code?: string; message?: string; errors?: { code?: string }[] } }).cause;
      const cause = c?.code ?? c?.errors?.[0]?.code ?? c?.message ?? (e as Error).message;
      return { ok: false, error: { code: 'UNREACHABLE', status: 0, message: `cannot reach Flowgate at ${this.baseUrl} (${cause}); is it running? (FLOWGATE_URL)` } };
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      return { ok: false, error: { code: 'BAD_RESPONSE', status: res.status, message: `HTTP ${res.status} from ${url.pathname}: not JSON` } };
    }
    const env = parsed as { success?: boolean; errCode?: string; errMsg?: string; data?: unknown } | undefined;
    if (!env || typeof env !== 'object' || typeof env.success !== 'boolean') {
      return res.status < 400 ? { ok: true, value: parsed as T } : { ok: false, error: { code: 'HTTP_ERROR', status: res.status, message: `HTTP ${res.status}` } };
    }
    if (!env.success) return { ok: false, error: { code: env.errCode ?? 'ERROR', status: res.status, message: env.errMsg ?? `HTTP ${res.status}`, data: env.data } };
    return { ok: true, value: env.data as T };
  }

  get = <T>(path: string, query?: Record<string, unknown>) => this.call<T>('GET', path, { query });
  post = <T>(path: string, body: unknown = {}, extra: { query?: Record<string, unknown>; headers?: Record<string, string> } = {}) => this.call<T>('POST', path, { body, ...extra });
  put = <T>(path: string, body: unknown) => this.call<T>('PUT', path, { body });
  del = <T>(path: string) => this.call<T>('DELETE', path);
}

export const enc = encodeURIComponent;

/** INVALID_VARIABLES and INVALID_WORKFLOW carry one entry per field in `data.errors`: as `field: message` lines. */
export function fieldErrors(e: ApiFailure): string[] {
  const errors = (e.data as { errors?: { field: string; message: string }[] } | undefined)?.errors;
  return (errors ?? []).map((f) => `${f.field}: ${f.message}`);
}

