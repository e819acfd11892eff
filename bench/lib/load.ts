import autocannon, { type Options } from 'autocannon';
import { Pool } from 'undici';

/** One autocannon run, reduced to the figures every scenario prints. Loopback only, bounded in time. */
export interface LoadResult {
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  ok: number;
  errors: number;
  non2xx: number;
}

/** A JSON body unique per request, so dedupe (Refly's 1 s debounce) never collapses the load. */
let counter = 0;
export const uniqueBody = () => JSON.stringify({ variables: { n: `${process.pid}-${++counter}` } });
export const uniquePost = (headers: Record<string, string> = {}) => [
  {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    setupRequest: (req: Record<string, unknown>) => ({ ...req, body: uniqueBody() }),
  },
];

export async function load(opts: Options): Promise<LoadResult> {
  if (!/^http:\/\/127\.0\.0\.1:/.test(opts.url)) throw new Error('benchmarks only target 127.0.0.1');
  const r = await autocannon({ duration: 10, ...opts });
  return {
    rps: r['2xx'] / r.duration,
    p50: r.latency.p50,
    p90: r.latency.p90,
    p99: r.latency.p99,
    ok: r['2xx'],
    errors: r.errors + r.timeouts,
    non2xx: r.non2xx,
  };
}

/**
 * An open-loop load at a fixed rate: request i is due at start + i / rate, sent then whatever the
 * earlier ones are doing (autocannon's `overallRate` instead sends each connection's share for the
 * second back to back at the top of the second: bursts, not a rate). Latency is counted from when a
 * request was due, so a server that falls behind cannot hide it (no coordinated omission).
 */
export async function paced(opts: { url: string; rate: number; duration: number; connections?: number; body: () => string; headers?: Record<string, string> }): Promise<LoadResult> {
  if (!/^http:\/\/127\.0\.0\.1:/.test(opts.url)) throw new Error('benchmarks only target 127.0.0.1');
  const target = new URL(opts.url);
  const pool = new Pool(target.origin, { connections: opts.connections ?? 10 });
  const total = Math.round(opts.rate * opts.duration);
  const latencies: number[] = [];
  let ok = 0;
  let errors = 0;
  let non2xx = 0;
  const inFlight: Promise<void>[] = [];
  const start = performance.now();
  const send = (due: number) =>
    pool
      .request({ path: target.pathname + target.search, method: 'POST', headers: { 'content-type': 'application/json', ...opts.headers }, body: opts.body() })
      .then(async (res) => {
        await res.body.dump();
        latencies.push(performance.now() - due);
        if (res.statusCode >= 200 && res.statusCode < 300) ok++;
        else non2xx++;
      })
      .catch(() => void errors++);
  for (let i = 0; i < total; ) {
    const now = performance.now();
    for (; i < total && start + (i * 1000) / opts.rate <= now; i++) inFlight.push(send(start + (i * 1000) / opts.rate));
    if (i < total) await new Promise((r) => setTimeout(r, Math.max(0, start + (i * 1000) / opts.rate - performance.now())));
  }
  await Promise.all(inFlight);
  const elapsed = (performance.now() - start) / 1000;
  await pool.close();
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
  return { rps: ok / elapsed, p50: pct(50), p90: pct(90), p99: pct(99), ok, errors, non2xx };
}
