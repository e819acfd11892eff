// Runs every test file with Node's test runner (Node 20 has no glob for --test). Each file runs its
// suites against both stores unless FLOWGATE_TEST_STORES narrows them (e.g. "sqlite").
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const roots = process.argv.slice(2).length ? process.argv.slice(2) : ['test'];
const files = [];
const walk = (p) => {
  if (statSync(p).isDirectory()) for (const f of readdirSync(p).sort()) walk(path.join(p, f));
  else if (p.endsWith('.test.ts')) files.push(p);
};
roots.forEach(walk);
// Bounded twice: a test that hangs fails after five minutes, and a run that still has not ended
// after an hour (a file kept alive by a process nobody stopped) is ended with a message, not a silent timeout.
const RUN_LIMIT_MS = 60 * 60_000;
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=300000', ...files], {
  stdio: 'inherit',
  timeout: RUN_LIMIT_MS,
  killSignal: 'SIGKILL',
});
if (r.error || r.signal) console.error(`test run ended: ${r.error?.message ?? r.signal} (limit ${RUN_LIMIT_MS / 60_000} min)`);
process.exit(r.status ?? 1);
