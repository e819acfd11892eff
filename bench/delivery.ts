import { createServer } from 'node:http';
import { request } from 'undici';
import { api, dropBenchSchemas, freshDataDir, freshSchema, startFlowgate } from './lib/servers.ts';

/**
 * `npm run bench:delivery [-- --quick]`: outbound event deliveries per second to a loopback receiver,
 * against a floor measured in the same run — the same receiver fed by a bare undici POST loop with
 * the same concurrency (what the wire and the receiver allow, with no store, signing or retries).
 *
 * How: N runs finish while their endpoint is disabled (their events are kept as `skipped`), then
 * the endpoint is re-enabled and `recover` queues all N at once; the clock runs from recover to the
 * N-th distinct `webhook-id` at the receiver. PostgreSQL runs too when DATABASE_URL is set.
 *
 * Both sides are warm when timed: the floor's loop first sends WARM posts untimed, and Flowgate first
 * delivers WARM events to an endpoint of their own. Cold, the floor's first few thousand posts ran
 * at half its speed (8,000/s over 3,000 posts against 15,000/s over 15,000), which flattered the
 * ratio: 0.42–0.64× cold against 0.27–0.34× warm.
 */
const quick = process.argv.includes('--quick');
const N = Number(process.env.BENCH_DELIVERIES ?? (quick ? 500 : 3000));
const WARM = quick ? 200 : 1000;
const CONCURRENCY = 16; // FLOWGATE_DELIVERY_CONCURRENCY's default
const PG_URL = process.env.DATABASE_URL;

const seen = new Set<string>();
let onSeen: (() => void) | undefined;
const receiver = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const id = req.headers['webhook-id'];
    if (typeof id === 'string') seen.add(id);
    res.writeHead(204).end();
    onSeen?.();
  });
});
await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
const rxUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/in`;

async function until(cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise<void>((r) => {
      onSeen = r;
      setTimeout(r, 50);
    });
  }
}

/** The floor: N POSTs of a similar body to the same receiver, CONCURRENCY at a time, after WARM untimed ones. */
async function floor(): Promise<number> {
  const body = JSON.stringify({ type: 'execution.finished', timestamp: new Date().toISOString(), data: { executionId: 'we-x', canvasId: 'c-x', status: 'finish' } });
  const posts = async (count: number, prefix: string) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < count) {
          const i = next++;
          const res = await request(rxUrl, { method: 'POST', headers: { 'content-type': 'application/json', 'webhook-id': `${prefix}_${i}` }, body });
          await res.body.dump();
        }
      }),
    );
  };
  await posts(WARM, 'warm');
  seen.clear();
  const started = performance.now();
  await posts(N, 'floor');
  return N / ((performance.now() - started) / 1000);
}

async function flowgate(kind: 'sqlite' | 'postgres'): Promise<{ perSecond: number; peakRssMb: number }> {
  const env: Record<string, string> =
    kind === 'sqlite'
      ? { FLOWGATE_DATA_DIR: freshDataDir(), DATABASE_URL: '' }
      : { FLOWGATE_DATA_DIR: freshDataDir(), DATABASE_URL: PG_URL!, FLOWGATE_DATABASE_SCHEMA: freshSchema() };
  const fg = await startFlowgate(env);
  try {
    const wf = await api(fg.url, 'POST', '/v1/workflows', { title: 'bench-delivery', tasks: [{ id: 'o', kind: 'output', value: 1 }] });
    const runs = async (count: number) => {
      let next = 0;
      await Promise.all(
        Array.from({ length: 32 }, async () => {
          while (next < count) {
            next++;
            await api(fg.url, 'POST', `/v1/openapi/workflow/${wf.canvasId}/run?wait=30`, {});
          }
        }),
      );
    };
    // Warm-up: WARM events delivered as they happen, to an endpoint deleted before the timed part.
    seen.clear();
    const warm = await api(fg.url, 'POST', '/v1/event-endpoints', { url: rxUrl, eventTypes: ['execution.finished'] });
    await runs(WARM);
    await until(() => seen.size >= WARM, 60_000);
    await api(fg.url, 'DELETE', `/v1/event-endpoints/${warm.id}`);
    const ep = await api(fg.url, 'POST', '/v1/event-endpoints', { url: rxUrl, eventTypes: ['execution.finished'], enabled: false });
    await runs(N);
    seen.clear();
    await api(fg.url, 'PATCH', `/v1/event-endpoints/${ep.id}`, { enabled: true });
    const started = performance.now();
    const { recovered } = await api(fg.url, 'POST', `/v1/event-endpoints/${ep.id}/recover`, { since: new Date(0).toISOString() });
    if (recovered !== N) throw new Error(`expected ${N} messages to recover, got ${recovered}`);
    await until(() => seen.size >= N, 300_000);
    return { perSecond: N / ((performance.now() - started) / 1000), peakRssMb: fg.peakRssMb() };
  } finally {
    await fg.stop();
  }
}

const lines = [`outbound deliveries: ${N} events, receiver on loopback, concurrency ${CONCURRENCY}`];
const floorRate = await floor();
lines.push(`floor (undici POST loop, no store): ${floorRate.toFixed(0)} deliveries/s`);
for (const kind of PG_URL ? (['sqlite', 'postgres'] as const) : (['sqlite'] as const)) {
  const r = await flowgate(kind);
  lines.push(`flowgate ${kind}: ${r.perSecond.toFixed(0)} deliveries/s = ${(r.perSecond / floorRate).toFixed(2)}× the floor; server peak RSS ${r.peakRssMb.toFixed(0)} MB`);
}
if (!PG_URL) lines.push('(PostgreSQL skipped: set DATABASE_URL to run it)');
process.stdout.write(`${lines.join('\n')}\n`);
receiver.close();
await dropBenchSchemas(PG_URL);
