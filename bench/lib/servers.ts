import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { COMPILED, exited, freePort, spawnServer } from '../../test/helpers/process.ts';

export const BENCH_KEY = 'fg_bench_admin_key_00000000000000000';

export interface Running {
  url: string;
  pid: number;
  child: ChildProcess;
  /** Peak resident set size so far, in MB (the kernel's VmHWM). */
  peakRssMb(): number;
  stop(): Promise<void>;
}

export function peakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** CPU time (user + system) of a process so far, in ms: /proc counts clock ticks of 10 ms (USER_HZ = 100 on Linux). */
export function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** The same, summed over every process named `postgres…` on this machine (the local server the benchmarks use). */
export function postgresCpuMs(): number {
  let total = 0;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/comm`, 'utf8').startsWith('postgres')) total += cpuMs(Number(d));
    } catch {
      /* the process ended meanwhile */
    }
  }
  return total;
}

/**
 * Runs `fn` (a load against `pid`) and says how much CPU each of its `requests()` cost the server
 * and, for PostgreSQL, the database: what decides a 2-core machine's ceiling.
 */
export async function withCpu<T>(pid: number, postgres: boolean, fn: () => Promise<T>, requests: (r: T) => number): Promise<{ result: T; note: string }> {
  const s0 = cpuMs(pid);
  const p0 = postgres ? postgresCpuMs() : 0;
  const result = await fn();
  const n = Math.max(1, requests(result));
  const us = (ms: number) => ((ms * 1000) / n).toFixed(0);
  const note = `CPU/request: server ${us(cpuMs(pid) - s0)} µs${postgres ? `, postgres ${us(postgresCpuMs() - p0)} µs` : ''}`;
  return { result, note };
}

const dataDirs: string[] = [];
const schemas: string[] = [];
// A benchmark leaves nothing behind: its data directories go when it exits, however it exits.
process.on('exit', () => dataDirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

export function freshDataDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'flowgate-bench-'));
  dataDirs.push(dir);
  return dir;
}

/** A PostgreSQL schema name of this run's own, dropped by `dropBenchSchemas()`. */
export function freshSchema(): string {
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  schemas.push(schema);
  return schema;
}

export async function dropBenchSchemas(url: string | undefined): Promise<void> {
  if (!url || schemas.length === 0) return;
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    for (const s of schemas.splice(0)) await c.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  } finally {
    await c.end();
  }
}

/**
 * Flowgate as a real process, as `npm start` runs it (compiled by `npm run build`, which every bench
 * script runs first), with limits raised so they do not shape the numbers. From `checkout`'s own
 * `dist/` if given (a build to compare with), else this one's.
 */
export async function startFlowgate(env: Record<string, string>, fixedPort?: number, checkout?: string): Promise<Running> {
  const port = fixedPort ?? (await freePort());
  const proc = await spawnServer(
    {
      FLOWGATE_API_KEY: BENCH_KEY,
      FLOWGATE_RATE_LIMIT_PER_MINUTE: '1000000000',
      FLOWGATE_RATE_LIMIT_PER_DAY: '1000000000',
      FLOWGATE_MAX_BACKLOG: '1000000000',
      FLOWGATE_ALLOW_PRIVATE_NETWORKS: 'true',
      LOG_LEVEL: 'warn',
      // As `npm start` sets it: fewer malloc arenas for V8's helper threads.
      MALLOC_ARENA_MAX: '2',
      ...env,
    },
    port,
    COMPILED,
    checkout,
  );
  return wrap(proc.child, proc.url);
}

function wrap(child: ChildProcess, url: string): Running {
  return {
    url,
    pid: child.pid!,
    child,
    peakRssMb: () => peakRssMb(child.pid!),
    async stop() {
      child.kill('SIGTERM');
      await exited(child);
    },
  };
}

/** The floor: node:http + one INSERT per request, in its own process like Flowgate. */
export async function startFloor(kind: 'sqlite' | 'postgres', env: Record<string, string>): Promise<Running> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, '..', 'floor-server.ts'), kind, String(port)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${url}/ready`)).ok) return wrap(child, url);
    } catch {
      /* starting */
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error('floor server did not start');
}

export async function api(base: string, method: string, p: string, body?: unknown): Promise<any> {
  const res = await fetch(`${base}${p}`, {
    method,
    headers: { authorization: `Bearer ${BENCH_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await res.json()) as { success: boolean; data: any; errMsg?: string };
  if (!json.success) throw new Error(`${method} ${p}: ${json.errMsg}`);
  return json.data;
}
