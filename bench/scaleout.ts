import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import { exited } from '../test/helpers/process.ts';
import pg from 'pg';
import type { Db } from './lib/db.ts';
import { load, uniquePost } from './lib/load.ts';
import { api, BENCH_KEY, dropBenchSchemas, freshDataDir, freshSchema, startFlowgate, type Running } from './lib/servers.ts';
import { ONE_TASK, threeTasks } from './lib/workflows.ts';

/**
 * `npm run bench:scaleout [-- --quick]` (needs DATABASE_URL): on PostgreSQL, runs completed per second
 * with 1 and 2 worker processes, and API ingest per second with 1 and 2 API processes. The ratio is
 * 2 processes ÷ 1 process, measured in the same run. On a 2-core machine the load generator, the
 * processes and PostgreSQL share the cores, so this shows how much a second process adds here, not
 * the ceiling on bigger hardware.
 */
const PG_URL = process.env.DATABASE_URL;
if (!PG_URL) {
  process.stdout.write('bench:scaleout needs DATABASE_URL (PostgreSQL)\n');
  process.exit(0);
}
const quick = process.argv.includes('--quick');
const RUNS = quick ? 1000 : 3000;
const SECONDS = quick ? 5 : 10;

const receiver = createServer((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
});
await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
const rxUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/`;

const fresh = () => {
  const schema = freshSchema();
  const env = { FLOWGATE_DATA_DIR: freshDataDir(), DATABASE_URL: PG_URL!, FLOWGATE_DATABASE_SCHEMA: schema };
  const db: Db = { kind: 'postgres', dataDir: env.FLOWGATE_DATA_DIR, url: PG_URL, schema };
  return { env, db };
};

function startWorker(env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'serve'], {
    env: { ...process.env, ...env, FLOWGATE_ROLE: 'worker', FLOWGATE_API_KEY: BENCH_KEY, FLOWGATE_ALLOW_PRIVATE_NETWORKS: 'true', LOG_LEVEL: 'warn' },
    stdio: 'ignore',
  });
}

/** RUNS three-task runs queued through one API process, then drained by `workers` worker processes. */
async function endToEnd(workers: number): Promise<number> {
  const { env, db } = fresh();
  const fg = await startFlowgate({ ...env, FLOWGATE_ROLE: 'api' });
  const procs: ChildProcess[] = [];
  try {
    const wf = await api(fg.url, 'POST', '/v1/workflows', threeTasks('scaleout', rxUrl));
    // Queue everything first, then start the workers: the clock measures draining, not accepting.
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next++ < RUNS) await api(fg.url, 'POST', `/v1/openapi/workflow/${wf.canvasId}/run`, { variables: { n: next } });
      }),
    );
    for (let i = 0; i < workers; i++) procs.push(startWorker(env));
    const c = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${db.schema}` });
    await c.connect();
    try {
      for (let i = 0; i < 3000; i++) {
        const { rows } = await c.query(
          "SELECT count(*) FILTER (WHERE status NOT IN ('finish','failed')) AS open, count(*) AS n, min(started_at) AS first, max(finished_at) AS last FROM executions",
        );
        const r = rows[0];
        // From the first run's start to the last finish: the workers' throughput, not their start-up.
        if (Number(r.open) === 0) return Number(r.n) / ((Number(r.last) - Number(r.first)) / 1000);
        await new Promise((res) => setTimeout(res, 200));
      }
    } finally {
      await c.end();
    }
    throw new Error('runs did not finish');
  } finally {
    for (const p of procs) p.kill('SIGTERM');
    await Promise.all(procs.map((p) => exited(p)));
    await fg.stop();
  }
}

/** Authenticated API triggers per second at c = 50 split across `n` API processes (no workers). */
async function ingest(n: number): Promise<number> {
  const { env } = fresh();
  const procs: Running[] = [];
  try {
    for (let i = 0; i < n; i++) procs.push(await startFlowgate({ ...env, FLOWGATE_ROLE: 'api' }));
    const wf = await api(procs[0]!.url, 'POST', '/v1/workflows', ONE_TASK);
    const results = await Promise.all(
      procs.map((p) =>
        load({
          url: `${p.url}/v1/openapi/workflow/${wf.canvasId}/run`,
          connections: Math.round(50 / n),
          duration: SECONDS,
          headers: { authorization: `Bearer ${BENCH_KEY}` },
          requests: uniquePost() as never,
        }),
      ),
    );
    return results.reduce((s, r) => s + r.rps, 0);
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
  }
}

const lines = [`scale-out on PostgreSQL (${quick ? 'quick' : 'full'}): ${RUNS} three-task runs; ingest at c = 50 for ${SECONDS} s`];
const e1 = await endToEnd(1);
const e2 = await endToEnd(2);
lines.push(`runs completed/s: 1 worker ${e1.toFixed(0)}, 2 workers ${e2.toFixed(0)} (${(e2 / e1).toFixed(2)}×)`);
const i1 = await ingest(1);
const i2 = await ingest(2);
lines.push(`ingest/s: 1 API process ${i1.toFixed(0)}, 2 API processes ${i2.toFixed(0)} (${(i2 / i1).toFixed(2)}×)`);
process.stdout.write(`${lines.join('\n')}\n`);
receiver.close();
await dropBenchSchemas(PG_URL);
