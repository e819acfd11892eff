import path from 'node:path';
import Database from 'better-sqlite3';
import { ulid } from 'ulid';
import { BENCH_KEY, freshDataDir, startFlowgate } from './lib/servers.ts';

/**
 * `npm run bench:history`: the lists the console reads, on a store holding a million executions
 * (SQLite, the embedded default). Each call is timed over real HTTP (median and worst of REPEAT);
 * the baseline is the bare indexed query for the newest page, run in this process on the same file.
 * Issue 15 asks for the first page "in well under a second".
 */
const N = Number(process.env.BENCH_HISTORY_ROWS ?? 1_000_000);
const REPEAT = 15;
const DAY = 86_400_000;
const WORKFLOWS = ['c-orders', 'c-signup', 'c-triage', 'c-billing', 'c-sync'];

const dataDir = freshDataDir();
// First start creates the schema; stop it before filling the file.
await (await startFlowgate({ FLOWGATE_DATA_DIR: dataDir, DATABASE_URL: '' })).stop();

const file = path.join(dataDir, 'flowgate.db');
const db = new Database(file);
db.pragma('journal_mode = WAL');
const started = Date.now();
const end = Date.now();
const span = 30 * DAY;
const insert = db.prepare(
  `INSERT INTO executions (id, workspace_id, workflow_id, workflow_version, status, trigger, variables, err_code, err_msg, created_at, started_at, finished_at, deadline_at)
   VALUES (?, 'ws-default', ?, 1, ?, ?, '{}', ?, ?, ?, ?, ?, ?)`,
);
// A history shaped like production: mostly finished, some failed, a few live; mostly API calls.
const fill = db.transaction(() => {
  for (let i = 0; i < N; i++) {
    const at = end - span + Math.floor((i / N) * span);
    const r = (i * 2654435761) % 1000;
    const status = r < 900 ? 'finish' : r < 980 ? 'failed' : r < 990 ? 'executing' : 'init';
    const trigger = r % 100 < 95 ? 'api' : r % 100 < 99 ? 'webhook' : 'retry';
    const failed = status === 'failed';
    insert.run(`we-${ulid(at).toLowerCase()}`, WORKFLOWS[i % WORKFLOWS.length], status, trigger, failed ? 'UPSTREAM_ERROR' : null, failed ? 'boom' : null, at, at, status === 'finish' || failed ? at + 40 : null, at + DAY);
  }
});
fill();
db.pragma('wal_checkpoint(TRUNCATE)');
const filledS = (Date.now() - started) / 1000;

const bare = db.prepare(`SELECT * FROM executions WHERE workspace_id = 'ws-default' ORDER BY id DESC LIMIT 50`);
const baseline = median(Array.from({ length: REPEAT }, () => time(() => bare.all())));
db.close();

const fg = await startFlowgate({ FLOWGATE_DATA_DIR: dataDir, DATABASE_URL: '' });
try {
  const iso = (t: number) => encodeURIComponent(new Date(t).toISOString());
  const mid = end - span / 2;
  const first = (await get(fg.url, '/v1/executions?limit=50')) as { nextCursor: string };
  const cases: [string, string][] = [
    ['runs, first page', '/v1/executions?limit=50'],
    ['runs, second page (cursor)', `/v1/executions?limit=50&cursor=${first.nextCursor}`],
    ['runs, status=failed', '/v1/executions?limit=50&status=failed'],
    ['runs, one workflow', '/v1/executions?limit=50&canvasId=c-billing'],
    ['runs, trigger=retry (1 %)', '/v1/executions?limit=50&trigger=retry'],
    ['runs, one day two weeks ago', `/v1/executions?limit=50&since=${iso(mid)}&until=${iso(mid + DAY)}`],
    ['failed runs of one workflow', '/v1/executions?limit=50&status=failed&canvasId=c-orders'],
    ['counts per status', '/v1/executions/counts'],
    ['counts, one workflow', '/v1/executions/counts?canvasId=c-signup'],
    ['counts, one day', `/v1/executions/counts?since=${iso(mid)}&until=${iso(mid + DAY)}`],
  ];
  const lines = [`history bench: ${N.toLocaleString('en')} executions on SQLite (filled in ${filledS.toFixed(1)} s); baseline = bare newest-page query ${baseline.toFixed(2)} ms`];
  for (const [name, url] of cases) {
    const ms: number[] = [];
    for (let i = 0; i < REPEAT; i++) {
      const t0 = performance.now();
      await get(fg.url, url);
      ms.push(performance.now() - t0);
    }
    lines.push(`  ${name.padEnd(32)} median ${median(ms).toFixed(1).padStart(7)} ms   worst ${Math.max(...ms).toFixed(1).padStart(7)} ms   (${(median(ms) / baseline).toFixed(1)}× baseline)`);
  }
  lines.push(`  peak RSS ${fg.peakRssMb().toFixed(0)} MB`);
  process.stdout.write(lines.join('\n') + '\n');
} finally {
  await fg.stop();
}

async function get(base: string, url: string): Promise<unknown> {
  const res = await fetch(`${base}${url}`, { headers: { authorization: `Bearer ${BENCH_KEY}` } });
  const body = (await res.json()) as { success: boolean; data: unknown; errMsg?: string };
  if (!body.success) throw new Error(`${url}: ${body.errMsg}`);
  return body.data;
}

function time(f: () => unknown): number {
  const t0 = performance.now();
  f();
  return performance.now() - t0;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
