import { createServer } from 'node:http';
import path from 'node:path';
import { drainTimings, pendingRuns, type Db } from './lib/db.ts';
import { load, uniquePost } from './lib/load.ts';
import { threeTasks } from './lib/workflows.ts';
import { api, BENCH_KEY, cpuMs, dropBenchSchemas, freshDataDir, freshSchema, postgresCpuMs, startFlowgate } from './lib/servers.ts';

/**
 * `npm run bench:drain -- [DIR_A [DIR_B]] [--rounds 3] [--seconds 3]`: how fast a worker drains a
 * backlog of 3-task runs (transform → http to a loopback receiver → output), the scheduler alone.
 * Each round accepts runs for `--seconds` at c = 50 with an API-only process, stops it, then starts a
 * process with a worker on that store and times it from its first attempt to the last run's end.
 * Nothing else loads the machine meanwhile, so a build's figure holds within a few per cent from one
 * round to the next, where the end-to-end scenario of `npm run bench` (accepts and worker sharing
 * the CPU) moves by a fifth. With two checkouts (each with `dist/` built) their rounds alternate and
 * the median B ÷ A is printed. PostgreSQL with DATABASE_URL set, SQLite otherwise.
 */
const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const given = args.filter((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
const dirs = given.length ? given : ['.'];
const ROUNDS = option('rounds', 3);
const SECONDS = option('seconds', 3);
const PG_URL = process.env.DATABASE_URL;

const receiver = createServer((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
});
await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
const receiverUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`;

/** One round for one checkout: runs drained per second, and the CPU each run cost the worker's process and PostgreSQL. */
async function drain(dir: string): Promise<{ rate: number; line: string }> {
  const dataDir = freshDataDir();
  const schema = PG_URL ? freshSchema() : undefined;
  const env: Record<string, string> = PG_URL ? { DATABASE_URL: PG_URL, FLOWGATE_DATABASE_SCHEMA: schema!, FLOWGATE_DATA_DIR: dataDir } : { DATABASE_URL: '', FLOWGATE_DATA_DIR: dataDir };
  const db: Db = { kind: PG_URL ? 'postgres' : 'sqlite', dataDir, url: PG_URL, schema };
  const accepting = await startFlowgate({ ...env, FLOWGATE_ROLE: 'api' }, undefined, dir);
  let accepted;
  try {
    const wf = await api(accepting.url, 'POST', '/v1/workflows', threeTasks('Drain', receiverUrl));
    const url = `${accepting.url}/v1/openapi/workflow/${wf.canvasId}/run`;
    accepted = await load({ url, connections: 50, duration: SECONDS, requests: uniquePost({ authorization: `Bearer ${BENCH_KEY}` }) });
  } finally {
    await accepting.stop();
  }
  const pg0 = PG_URL ? postgresCpuMs() : 0;
  const worker = await startFlowgate({ ...env, FLOWGATE_ROLE: 'all' }, undefined, dir);
  let workerMs: number;
  let pgMs: number;
  try {
    const deadline = Date.now() + 180_000;
    while ((await pendingRuns(db)) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    // Before the stop: the worker's database sessions, and their CPU time, end with it.
    workerMs = cpuMs(worker.pid);
    pgMs = PG_URL ? postgresCpuMs() - pg0 : 0;
  } finally {
    await worker.stop();
  }
  const t = await drainTimings(db);
  const rate = t.runs / t.seconds;
  const perRun = (ms: number) => ((ms * 1000) / Math.max(1, t.runs)).toFixed(0);
  const cpu = `CPU per run: worker ${perRun(workerMs)} µs${PG_URL ? `, postgres ${perRun(pgMs)} µs` : ''}`;
  if (t.notFinished > 0) throw new Error(`${dir}: ${t.notFinished} of ${t.runs} runs did not finish`);
  return { rate, line: `accepted ${accepted.ok} (${accepted.rps.toFixed(0)}/s), drained ${t.runs} in ${t.seconds.toFixed(1)} s: ${rate.toFixed(0)} runs/s; ${cpu}` };
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
const rates: number[][] = dirs.map(() => []);
try {
  console.log(`draining 3-task runs on ${PG_URL ? 'PostgreSQL' : 'SQLite'}: ${dirs.map((d) => path.basename(path.resolve(d))).join(' vs ')}, ${ROUNDS} rounds`);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, dir] of dirs.entries()) {
      const r = await drain(dir);
      rates[i]!.push(r.rate);
      console.log(`${dirs.length > 1 ? `${'AB'[i]} ` : ''}round ${round + 1}: ${r.line}`);
    }
  }
  dirs.forEach((d, i) => console.log(`${dirs.length > 1 ? `${'AB'[i]} ` : ''}median ${median(rates[i]!).toFixed(0)} runs/s (${d})`));
  if (dirs.length === 2) console.log(`median B÷A of the rounds: ${median(rates[1]!.map((b, i) => b / rates[0]![i]!)).toFixed(3)}`);
} finally {
  receiver.close();
  await dropBenchSchemas(PG_URL);
}
