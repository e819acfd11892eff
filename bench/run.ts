import { createServer, type Server } from 'node:http';
import os from 'node:os';
import { countAccepted, executionTimings, pendingRuns, seedExecutions, type Db } from './lib/db.ts';
import { load, paced, uniqueBody, uniquePost, type LoadResult } from './lib/load.ts';
import { ONE_TASK, oneHttpTask, threeTasks } from './lib/workflows.ts';
import { api, BENCH_KEY, dropBenchSchemas, freshDataDir, freshSchema, startFloor, startFlowgate, withCpu, type Running } from './lib/servers.ts';

/**
 * `npm run bench [-- --quick] [--only ingest,e2e,light,reads]`: Flowgate against the floor (node:http + one INSERT) in one run, on
 * 127.0.0.1, every load bounded in time. Prints numbers and ratios; exits non-zero when a
 * scenario lost data (a 2xx without a committed execution).
 */
const quick = process.argv.includes('--quick');
/** `--only ingest,light` runs those groups (ingest = floor + ingest, e2e, light, reads); all by default. */
const only = process.argv.find((a, i) => process.argv[i - 1] === '--only')?.split(',');
const wanted = (group: string) => !only || only.includes(group);
const DURATION = quick ? 4 : 10;
const SEED = quick ? 100_000 : 1_000_000;
const PG_URL = process.env.DATABASE_URL;
/** Runs per second for the unsaturated end-to-end scenario: a fraction of what either store completes. */
const LIGHT_RATE = 100;

interface Row {
  scenario: string;
  result: LoadResult;
  rssMb: number;
  note?: string;
}
const rows: Row[] = [];
const problems: string[] = [];
const fmt = (n: number, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : '-');

function print(r: Row): void {
  const x = r.result;
  process.stdout.write(
    `${r.scenario.padEnd(34)} ${fmt(x.rps).padStart(7)}/s  p50 ${fmt(x.p50, 1).padStart(6)} ms  p90 ${fmt(x.p90, 1).padStart(6)} ms  p99 ${fmt(x.p99, 1).padStart(6)} ms  errors ${x.errors + x.non2xx}  peak RSS ${fmt(r.rssMb)} MB${r.note ? `  ${r.note}` : ''}\n`,
  );
  rows.push(r);
}


function storeEnv(kind: 'sqlite' | 'postgres'): { env: Record<string, string>; db: Db } {
  const dataDir = freshDataDir();
  // DATABASE_URL may be set for the PostgreSQL variants; the SQLite runs must not inherit it.
  if (kind === 'sqlite') return { env: { FLOWGATE_DATA_DIR: dataDir, DATABASE_URL: '' }, db: { kind, dataDir } };
  const schema = freshSchema();
  return { env: { FLOWGATE_DATA_DIR: dataDir, DATABASE_URL: PG_URL!, FLOWGATE_DATABASE_SCHEMA: schema }, db: { kind, dataDir, url: PG_URL, schema } };
}

async function ingest(kind: 'sqlite' | 'postgres'): Promise<void> {
  const { env, db } = storeEnv(kind);
  const receiver = await okReceiver();
  const fg = await startFlowgate(env);
  try {
    const hook = async (definition: unknown) => {
      const wf = await api(fg.url, 'POST', '/v1/workflows', definition);
      const wh = await api(fg.url, 'POST', '/v1/webhook/enable', { canvasId: wf.canvasId });
      return `${fg.url}/v1/openapi/webhook/${wh.webhookId}/run`;
    };
    // The output task is evaluated by the accept itself; the http task is queued, and the worker
    // calls the receiver on the same event loop while the load goes on.
    const loads = [
      { label: 'webhook', url: await hook(ONE_TASK), conns: [1, 50] },
      { label: 'webhook→http', url: await hook(oneHttpTask(receiver.url)), conns: [50] },
    ];
    let accepted = 0;
    for (const { label, url, conns } of loads) {
      for (const c of conns) {
        const { result: r, note } = await withCpu(fg.pid, kind === 'postgres', () => load({ url, connections: c, duration: DURATION, requests: uniquePost() }), (x) => x.ok);
        accepted += r.ok;
        print({ scenario: `ingest ${kind} ${label} c=${c}`, result: r, rssMb: fg.peakRssMb(), note: c === 50 ? note : undefined });
      }
    }
    await fg.stop();
    const stored = await countAccepted(db);
    // More committed than answered is fine (requests in flight when the load stopped); fewer is loss.
    const line = `ingest ${kind}: ${accepted} answered 2xx, ${stored} executions committed`;
    process.stdout.write(`  ${line}${stored >= accepted ? ' (none lost)' : ' — LOST DATA'}\n`);
    if (stored < accepted) problems.push(line);
  } finally {
    fg.child.kill('SIGKILL');
    receiver.server.close();
  }
}

/** A loopback receiver answering every POST with `{"ok":true}`, for the workflows' http tasks. */
async function okReceiver(): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hook` };
}

async function floor(kind: 'sqlite' | 'postgres'): Promise<void> {
  const { db } = storeEnv(kind);
  const env: Record<string, string> = kind === 'sqlite' ? { FLOOR_DATA_DIR: db.dataDir } : { DATABASE_URL: PG_URL!, FLOOR_SCHEMA: db.schema! };
  const f = await startFloor(kind, env);
  try {
    for (const c of [1, 50]) {
      const { result: r, note } = await withCpu(f.pid, kind === 'postgres', () => load({ url: `${f.url}/`, connections: c, duration: DURATION, requests: uniquePost() }), (x) => x.ok);
      print({ scenario: `floor ${kind} node:http+INSERT c=${c}`, result: r, rssMb: f.peakRssMb(), note: c === 50 ? note : undefined });
    }
  } finally {
    await f.stop();
  }
}

/** transform → http to a loopback receiver → output: the engine's per-node overhead shows here. */
/**
 * A 3-task workflow triggered over the run API: at c=50 as fast as it accepts (saturated: what the
 * worker completes per second), or at a fixed `rate` well under capacity (latency: accept→finish and
 * the scheduler's overhead per node when nothing queues).
 */
async function endToEnd(kind: 'sqlite' | 'postgres', rate?: number): Promise<void> {
  const receiver = await okReceiver();
  const rxUrl = receiver.url;
  const { env, db } = storeEnv(kind);
  const fg = await startFlowgate(env);
  try {
    const wf = await api(fg.url, 'POST', '/v1/workflows', threeTasks('E2E', rxUrl));
    const url = `${fg.url}/v1/openapi/workflow/${wf.canvasId}/run`;
    const auth = { authorization: `Bearer ${BENCH_KEY}` };
    // The unsaturated scenario measures a warm process: a first second at the same rate compiles the
    // hot paths and is left out of the timings.
    if (rate) await paced({ url, rate, duration: 1, body: uniqueBody, headers: auth });
    const since = Date.now();
    const r = rate
      ? await paced({ url, rate, duration: DURATION, body: uniqueBody, headers: auth })
      : await load({ url, connections: 50, duration: DURATION, requests: uniquePost(auth) });
    // Let the backlog drain (bounded), then read the timings from the store. The poll is a count:
    // the timings query reads every run's attempts, and polling it loaded PostgreSQL enough to halve
    // the worker's throughput.
    const deadline = Date.now() + (quick ? 60_000 : 180_000);
    while ((await pendingRuns(db, since)) > 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 250));
    const t = await executionTimings(db, since);
    const rss = fg.peakRssMb();
    const label = rate ? `${rate}/s` : 'c=50';
    print({ scenario: `accept 3-task runs ${kind} ${label}`, result: r, rssMb: rss });
    const note = `${t.finished} finished, ${t.failed} failed, ${t.pending} not terminal`;
    process.stdout.write(
      `  end to end ${kind} ${label}: ${fmt(t.completedPerSec)} runs/s completed; accept→finish p50 ${fmt(t.latencyP50)} ms p99 ${fmt(t.latencyP99)} ms; scheduler overhead per node p50 ${fmt(t.overheadPerNodeP50, 2)} ms (${note})\n`,
    );
    if (t.pending > 0 || t.failed > 0) problems.push(`end to end ${kind} ${label}: ${note}`);
  } finally {
    await fg.stop();
    receiver.server.close();
  }
}

/** Status, output and history with many executions in the store. */
async function reads(): Promise<void> {
  const { env, db } = storeEnv('sqlite');
  let fg: Running = await startFlowgate(env);
  const wf = await api(fg.url, 'POST', '/v1/workflows', ONE_TASK);
  await fg.stop();
  const started = Date.now();
  const sample = await seedExecutions(db, wf.canvasId, SEED);
  process.stdout.write(`  seeded ${SEED} executions in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  fg = await startFlowgate(env);
  try {
    const auth = { authorization: `Bearer ${BENCH_KEY}` };
    const pick = () => sample[Math.floor(Math.random() * sample.length)];
    const each = (suffix: string) => [{ method: 'GET', headers: auth, setupRequest: (req: { path: string }) => ({ ...req, path: `/v1/openapi/workflow/${pick()}/${suffix}` }) }];
    const d = Math.max(3, DURATION / 2);
    print({ scenario: `read status (${SEED / 1000}k runs) c=10`, result: await load({ url: fg.url, connections: 10, duration: d, requests: each('status') }), rssMb: fg.peakRssMb() });
    print({ scenario: `read output (${SEED / 1000}k runs) c=10`, result: await load({ url: fg.url, connections: 10, duration: d, requests: each('output') }), rssMb: fg.peakRssMb() });
    const list = `${fg.url}/v1/openapi/workflow/${wf.canvasId}/executions`;
    print({ scenario: 'history list limit=20 c=10', result: await load({ url: `${list}?limit=20`, connections: 10, duration: d, headers: auth }), rssMb: fg.peakRssMb() });
    print({ scenario: 'history filter status=failed c=10', result: await load({ url: `${list}?status=failed&limit=20`, connections: 10, duration: d, headers: auth }), rssMb: fg.peakRssMb() });
    print({ scenario: 'history filter trigger+since c=10', result: await load({ url: `${list}?trigger=webhook&since=2026-01-01T00:00:00Z&limit=20`, connections: 10, duration: d, headers: auth }), rssMb: fg.peakRssMb() });
  } finally {
    await fg.stop();
  }
}

const find = (name: string) => rows.find((r) => r.scenario === name)?.result;
function ratios(kind: 'sqlite' | 'postgres'): void {
  for (const c of [1, 50]) {
    const fgR = find(`ingest ${kind} webhook c=${c}`);
    const flR = find(`floor ${kind} node:http+INSERT c=${c}`);
    if (fgR && flR) process.stdout.write(`  ratio ingest ÷ floor (${kind}, c=${c}): ${(fgR.rps / flR.rps).toFixed(2)}×  (p99 ${fmt(fgR.p99, 1)} vs ${fmt(flR.p99, 1)} ms)\n`);
  }
  const httpR = find(`ingest ${kind} webhook→http c=50`);
  const flR = find(`floor ${kind} node:http+INSERT c=50`);
  if (httpR && flR) process.stdout.write(`  ratio ingest of an http-task run ÷ floor (${kind}, c=50): ${(httpR.rps / flR.rps).toFixed(2)}×  (p99 ${fmt(httpR.p99, 1)} vs ${fmt(flR.p99, 1)} ms; the worker calls the receiver meanwhile)\n`);
}

async function main(): Promise<void> {
  process.stdout.write(
    `Flowgate benchmarks${quick ? ' (quick)' : ''}: ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${DURATION} s per load\n\n`,
  );
  const stores: ('sqlite' | 'postgres')[] = PG_URL ? ['sqlite', 'postgres'] : ['sqlite'];
  for (const kind of stores) {
    if (wanted('ingest')) {
      await floor(kind);
      await ingest(kind);
      ratios(kind);
    }
    if (wanted('e2e')) await endToEnd(kind);
    if (wanted('light')) await endToEnd(kind, LIGHT_RATE);
    if (kind === 'sqlite' && wanted('reads')) await reads();
  }
  if (!PG_URL) process.stdout.write('\n(PostgreSQL variants skipped: set DATABASE_URL to run them)\n');
  const peak = Math.max(...rows.filter((r) => !r.scenario.startsWith('floor')).map((r) => r.rssMb).filter(Number.isFinite));
  process.stdout.write(`\npeak RSS of Flowgate under any load: ${fmt(peak)} MB\n`);
  if (problems.length) {
    process.stdout.write(`\nFAILED:\n${problems.map((p) => `  ${p}`).join('\n')}\n`);
    process.exitCode = 1; // not exit(): the schemas are dropped first
  }
}

try {
  await main();
} finally {
  await dropBenchSchemas(PG_URL);
}
