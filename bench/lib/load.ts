import autocannon, { type Options } from 'autocannon';

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
export const uniquePost = (headers: Record<string, string> = {}) => [
  {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    setupRequest: (req: Record<string, unknown>) => ({ ...req, body: JSON.stringify({ variables: { n: `${process.pid}-${++counter}` } }) }),
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
