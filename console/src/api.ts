// The console talks to Flowgate only through its public API, with the key the user pasted.

const KEY_ITEM = 'flowgate.apiKey';

export const session = {
  key: (): string | null => sessionStorage.getItem(KEY_ITEM),
  signIn: (key: string) => sessionStorage.setItem(KEY_ITEM, key),
  signOut: () => sessionStorage.removeItem(KEY_ITEM),
};

/** An error answer of the API, with its code (docs/errors.md) and trace id. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly traceId?: string,
  ) {
    super(message);
  }
}

interface Envelope<T> {
  success: boolean;
  errCode?: string;
  errMsg?: string;
  traceId?: string;
  data?: T;
}

export type Query = Record<string, string | number | boolean | undefined | null>;

export function withQuery(path: string, q?: Query): string {
  if (!q) return path;
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `${path}?${s}` : path;
}

async function call<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
  const key = session.key();
  const res = await fetch(path, {
    method,
    headers: {
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    throw new ApiError(res.status, 'BAD_RESPONSE', `HTTP ${res.status}: ${text.slice(0, 200)}`);
  }
  // The per-workflow OpenAPI document is not enveloped, so tools can load it as it is.
  if (!parsed || typeof parsed !== 'object' || !('success' in parsed)) {
    if (!res.ok) throw new ApiError(res.status, 'HTTP_ERROR', `HTTP ${res.status}`);
    return parsed as T;
  }
  const env = parsed as Envelope<T>;
  if (!env.success) throw new ApiError(res.status, env.errCode ?? 'ERROR', env.errMsg ?? `HTTP ${res.status}`, env.traceId);
  return env.data as T;
}

export const api = {
  get: <T>(path: string, q?: Query) => call<T>('GET', withQuery(path, q)),
  post: <T>(path: string, body?: unknown, headers?: Record<string, string>) => call<T>('POST', path, body ?? {}, headers),
  put: <T>(path: string, body: unknown) => call<T>('PUT', path, body),
  patch: <T>(path: string, body: unknown) => call<T>('PATCH', path, body),
  del: <T>(path: string) => call<T>('DELETE', path),
};

export const enc = encodeURIComponent;
