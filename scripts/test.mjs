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
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
