import { loadConfig, type Config } from '../../src/config.ts';
import { startServer, type Server } from '../../src/server.ts';
import { freshTarget, type StoreKind, type StoreTarget } from './stores.ts';
import pino from 'pino';

export const ADMIN_KEY = 'fg_test_admin_key_0123456789abcdef';

export interface TestServer {
  url: string;
  server: Server;
  target: StoreTarget;
  /** Calls the API with the admin key unless `key` is given (`null` for none). */
  api(method: string, path: string, opts?: { body?: unknown; raw?: string | Buffer; headers?: Record<string, string>; key?: string | null }): Promise<ApiResponse>;
  close(keepDb?: boolean): Promise<void>;
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  body: any;
}

/** A real Flowgate on 127.0.0.1:<random port> over a fresh database of `kind`. */
export async function startTestServer(kind: StoreKind, overrides: Partial<Config> = {}, existing?: StoreTarget): Promise<TestServer> {
  // An existing target restarts on the same database (crash and restart tests).
  const target = existing ?? freshTarget(kind);
  const config = loadConfig({}, {
    ...target.config,
    port: 0,
    host: '127.0.0.1',
    apiKey: ADMIN_KEY,
    pollMs: 50,
    logLevel: 'silent',
    // Tests send bursts; the rate-limit tests set their own limits.
    rateLimitPerMinute: 1_000_000,
    rateLimitPerDay: 10_000_000,
    // Fakes share one host per test file; a short cool-off keeps an opened circuit from stalling the next test.
    breakerCoolOffMs: 200,
    ...overrides,
  });
  const server = await startServer(config, pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }));
  const url = server.url;
  return {
    url,
    server,
    target,
    async api(method, path, opts = {}) {
      const headers: Record<string, string> = { ...(opts.headers ?? {}) };
      const key = opts.key === undefined ? ADMIN_KEY : opts.key;
      if (key) headers.authorization = `Bearer ${key}`;
      let body: string | Buffer | undefined;
      if (opts.raw !== undefined) body = opts.raw;
      else if (opts.body !== undefined) {
        body = JSON.stringify(opts.body);
        headers['content-type'] ??= 'application/json';
      }
      const res = await fetch(`${url}${path}`, { method, headers, body });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        /* not JSON: metrics, docs */
      }
      return { status: res.status, headers: res.headers, body: parsed };
    },
    async close(keepDb = false) {
      await server.close();
      await target.cleanup(keepDb);
    },
  };
}

/** Polls status until the run is terminal (bounded: 200 × 50 ms). */
export async function waitDone(t: TestServer, executionId: string, key?: string): Promise<any> {
  for (let i = 0; i < 200; i++) {
    const r = await t.api('GET', `/v1/openapi/workflow/${executionId}/status`, { key });
    if (r.body?.data?.status === 'finish' || r.body?.data?.status === 'failed') return r.body.data;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`execution ${executionId} did not finish`);
}
