import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { after } from 'node:test';
import type { StoreTarget } from './stores.ts';

/** A port that was free a moment ago (bind 0, read, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  output: () => string;
}

/** Node arguments that start Flowgate: from source through tsx (tests), or compiled as `npm start` runs it (benchmarks). */
export const FROM_SOURCE = ['--import', 'tsx', 'src/main.ts', 'serve'];
/** Keep in step with `npm start` in package.json: the flags there are what the benchmarks measure. */
export const COMPILED = [...(process.env.FLOWGATE_BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.FLOWGATE_BENCH_CPU_PROF}`] : []), '--max-semi-space-size=8', '--heap-growing-percent=20', 'dist/main.js', 'serve'];

/**
 * Every server a test file started and that has not exited. A child's pipes keep the test file's
 * process alive, so one a failing test never got to stop would hang the whole run: inside the test
 * runner, the file's last hook kills whatever is left.
 */
const live = new Set<ChildProcess>();
if (process.env.NODE_TEST_CONTEXT) {
  after(() => {
    for (const child of live) child.kill('SIGKILL');
  });
}

/**
 * Starts `flowgate serve` as a real child process and waits (bounded) until /readyz answers; from
 * `cwd`'s checkout if given (a benchmark comparing two builds), else this one.
 */
export async function spawnServer(env: Record<string, string>, port: number, argv: string[] = FROM_SOURCE, cwd?: string): Promise<ServerProcess> {
  const child = spawn(process.execPath, argv, {
    cwd,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited early (${child.exitCode}):\n${out}`);
    try {
      if ((await fetch(`${url}/readyz`)).ok) return { child, url, output: () => out };
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`server did not become ready:\n${out}`);
}

/** Starts one server per port; when any fails to start, stops the others before throwing. */
export async function spawnServers(env: Record<string, string>, ports: number[]): Promise<ServerProcess[]> {
  const settled = await Promise.allSettled(ports.map((port) => spawnServer(env, port)));
  const up = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (!failed) return up;
  for (const p of up) p.child.kill('SIGKILL');
  await Promise.all(up.map((p) => exited(p.child)));
  throw failed.reason;
}

export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** The environment of a Flowgate process on `target`'s database, with rate limits out of the way. */
export function processEnv(target: StoreTarget, apiKey: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...(target.config.databaseUrl ? { DATABASE_URL: target.config.databaseUrl, FLOWGATE_DATABASE_SCHEMA: target.config.databaseSchema! } : { DATABASE_URL: '' }),
    FLOWGATE_DATA_DIR: target.config.dataDir,
    FLOWGATE_API_KEY: apiKey,
    FLOWGATE_RATE_LIMIT_PER_MINUTE: '1000000',
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

/** A worker-only process (it does not listen): `FLOWGATE_ROLE=worker` plus `env`. */
export function spawnWorker(env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'serve'], { env: { ...process.env, ...env, FLOWGATE_ROLE: 'worker' }, stdio: 'ignore' });
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** The `flowgate` binary as users run it (bin/flowgate.js, which loads the sources through tsx). */
export const BIN = 'bin/flowgate.js';

/** Runs `flowgate <args>` to its exit (bounded, 20 s) and returns its exit code and output. */
export function runCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, LOG_LEVEL: 'silent', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
