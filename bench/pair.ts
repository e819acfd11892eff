import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { load, uniquePost, type LoadResult } from './lib/load.ts';
import { ONE_TASK } from './lib/workflows.ts';
import { api, BENCH_KEY, cpuMs, dropBenchSchemas, freshDataDir, freshSchema } from './lib/servers.ts';

/**
 * `npm run bench:pair -- DIR_A DIR_B [--rounds 6] [--seconds 5] [--connections 25]`: two builds of
 * Flowgate (each directory a checkout with its `dist/` built, a `git worktree` for instance) served side
 * by side and loaded at the same time, round after round, with webhook calls of a one-task workflow.
 * On a shared 2-core machine one build's throughput moves ±20% from one minute to the next, far more
 * than most changes; two servers loaded together see the same machine, so their ratio holds still.
 * Prints each round and the median ratios B ÷ A (requests/s, server CPU per request). Run it A/A once
 * to see its own bias (the second server measured about 2% ahead here).
 * PostgreSQL with DATABASE_URL set (each server on a schema of its own), SQLite otherwise.
 */
const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const dirs = args.filter((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
const ROUNDS = option('rounds', 6);
const SECONDS = option('seconds', 5);
const CONNECTIONS = option('connections', 25);
const PG_URL = process.env.DATABASE_URL;

if (dirs.length !== 2 || dirs.some((d) => !existsSync(path.join(d, 'dist', 'main.js')))) {
  console.error('usage: npm run bench:pair -- DIR_A DIR_B [--rounds N] [--seconds S] [--connections C]  (each DIR with dist/ built)');
  process.exit(2);
}

interface Side {
  name: string;
  child: ChildProcess;
  hook: string;
}

async function start(dir: string, port: number): Promise<Side> {
  const store = PG_URL ? { DATABASE_URL: PG_URL, FLOWGATE_DATABASE_SCHEMA: freshSchema() } : { DATABASE_URL: '' };
  // As bench/lib/servers.ts starts Flowgate (npm start's flags), from the other checkout's own dist/.
  const child = spawn(process.execPath, ['--max-semi-space-size=8', '--heap-growing-percent=20', 'dist/main.js', 'serve'], {
    cwd: dir,
    env: {
      ...process.env,
      ...store,
      FLOWGATE_DATA_DIR: freshDataDir(),
      FLOWGATE_API_KEY: BENCH_KEY,
      FLOWGATE_RATE_LIMIT_PER_MINUTE: '1000000000',
      FLOWGATE_RATE_LIMIT_PER_DAY: '1000000000',
      FLOWGATE_MAX_BACKLOG: '1000000000',
      LOG_LEVEL: 'warn',
      MALLOC_ARENA_MAX: '2',
      PORT: String(port),
      HOST: '127.0.0.1',
    },
    stdio: 'ignore',
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`${dir}: server exited (${child.exitCode})`);
    if (i > 300) throw new Error(`${dir}: server not ready after 30 s`);
    if (await fetch(`${url}/readyz`).then((r) => r.ok, () => false)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const wf = await api(url, 'POST', '/v1/workflows', ONE_TASK);
  const wh = await api(url, 'POST', '/v1/webhook/enable', { canvasId: wf.canvasId });
  return { name: path.basename(path.resolve(dir)), child, hook: `${url}/v1/openapi/webhook/${wh.webhookId}/run` };
}

/** Both sides loaded at once; each one's requests/s and server CPU per accepted request. */
function round(sides: Side[], seconds: number): Promise<{ r: LoadResult; cpuUs: number }[]> {
  return Promise.all(
    sides.map(async (s) => {
      const before = cpuMs(s.child.pid!);
      const r = await load({ url: s.hook, connections: CONNECTIONS, duration: seconds, requests: uniquePost() });
      return { r, cpuUs: ((cpuMs(s.child.pid!) - before) * 1000) / Math.max(1, r.ok) };
    }),
  );
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
const sides: Side[] = [];
try {
  sides.push(await start(dirs[0]!, 39_401), await start(dirs[1]!, 39_402));
  console.log(`${sides[0]!.name} (A) and ${sides[1]!.name} (B) on ${PG_URL ? 'PostgreSQL' : 'SQLite'}, ${CONNECTIONS} connections each, ${ROUNDS} rounds of ${SECONDS} s`);
  await round(sides, 2); // warm-up: compiles both hot paths
  const rps: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const [a, b] = await round(sides, SECONDS);
    rps.push(b!.r.rps / a!.r.rps);
    cpu.push(b!.cpuUs / a!.cpuUs);
    const side = (x: typeof a) => `${x!.r.rps.toFixed(0).padStart(5)}/s ${x!.cpuUs.toFixed(0).padStart(4)} µs p99 ${x!.r.p99} ms errors ${x!.r.errors + x!.r.non2xx}`;
    console.log(`A ${side(a)} | B ${side(b)} | B÷A requests/s ${rps[i]!.toFixed(3)} CPU/request ${cpu[i]!.toFixed(3)}`);
  }
  console.log(`median B÷A: requests/s ${median(rps).toFixed(3)}, server CPU per request ${median(cpu).toFixed(3)}`);
} finally {
  for (const s of sides) s.child.kill('SIGTERM');
  await Promise.all(sides.map((s) => (s.child.exitCode === null ? new Promise((r) => s.child.once('exit', r)) : undefined)));
  await dropBenchSchemas(PG_URL);
}
