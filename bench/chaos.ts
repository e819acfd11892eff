import { createServer } from 'node:http';
import Database from 'better-sqlite3';
import path from 'node:path';
import { exited, freePort } from '../test/helpers/process.ts';
import { api, freshDataDir, startFlowgate, type Running } from './lib/servers.ts';
import { threeTasks } from './lib/workflows.ts';

/**
 * `npm run chaos`: a steady webhook load while the server is `kill -9`ed five times at random
 * moments and restarted on the same data. Then it counts what a user would call loss: a 2xx without
 * an execution, an execution that never ends, a finished node whose side effect ran twice (or never).
 * Under continuous load each kill lands while group commits are in flight, so some batches commit
 * and die before their answers are written: those runs are counted too, and must end like the rest.
 * An event endpoint hears `execution.finished`: every finished run's event must arrive.
 * Exits non-zero if any count is not zero. Loopback only; every loop bounded.
 */
const KILLS = 5;
const CONCURRENCY = 20;

const calls = new Map<string, number>();
/** Runs whose `execution.finished` event reached the receiver (at least once). */
const finishedEvents = new Set<string>();
const receiver = createServer((req, res) => {
  if (req.url === '/events') {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const ev = JSON.parse(body) as { type: string; data: { executionId: string } };
      if (ev.type === 'execution.finished') finishedEvents.add(ev.data.executionId);
      res.writeHead(204).end();
    });
    return;
  }
  const key = String(req.headers['idempotency-key']);
  calls.set(key, (calls.get(key) ?? 0) + 1);
  req.resume();
  req.on('end', () => setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'), 5));
});
await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
const rxBase = `http://127.0.0.1:${(receiver.address() as { port: number }).port}`;
const rxUrl = `${rxBase}/hook`;

const dataDir = freshDataDir();
// SQLite on purpose (the counts below read its file), even when DATABASE_URL is set in the shell.
const env = { FLOWGATE_DATA_DIR: dataDir, FLOWGATE_LEASE_MS: '2000', DATABASE_URL: '' };
const port = await freePort();
let fg: Running = await startFlowgate(env, port);
const wf = await api(fg.url, 'POST', '/v1/workflows', threeTasks('Chaos', rxUrl));
const wh = await api(fg.url, 'POST', '/v1/webhook/enable', { canvasId: wf.canvasId });
// Every finished run's event must reach this endpoint, kills or not (deliveries are at least once).
await api(fg.url, 'POST', '/v1/event-endpoints', { url: `${rxBase}/events`, eventTypes: ['execution.finished'] });
const hookUrl = `${fg.url}/v1/openapi/webhook/${wh.webhookId}/run`;

const accepted = new Set<string>();
let sent = 0;
let refused = 0;
let running = true;
const loop = async (worker: number) => {
  for (let i = 0; running && i < 1_000_000; i++) {
    sent++;
    try {
      const r = await fetch(hookUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ variables: { n: `${worker}-${i}` } }) });
      const body = (await r.json()) as { data?: { executionId: string } };
      if (r.status === 200 && body.data) accepted.add(body.data.executionId);
    } catch {
      refused++; // server down: not accepted, so nothing was promised
      await new Promise((r) => setTimeout(r, 50));
    }
  }
};
const load = Promise.all(Array.from({ length: CONCURRENCY }, (_, i) => loop(i)));

// Odd kills come from outside at a random moment; even ones from inside, right after a group commit
// and before its answers are written (FLOWGATE_FAULT_KILL_AFTER_COMMITS), the narrowest window there is.
for (let k = 1; k <= KILLS; k++) {
  if (k % 2 === 1) {
    await new Promise((r) => setTimeout(r, 1000 + Math.random() * 2000));
    fg.child.kill('SIGKILL');
    await exited(fg.child);
    process.stdout.write(`kill -9 #${k} (from outside) after ${accepted.size} accepted\n`);
    const armed = k < KILLS;
    const after = 20 + Math.floor(Math.random() * 200);
    fg = await startFlowgate(armed ? { ...env, FLOWGATE_FAULT_KILL_AFTER_COMMITS: String(after) } : env, port);
    if (armed) process.stdout.write(`  restarted to kill itself after its commit #${after}\n`);
    continue;
  }
  const died = await Promise.race([exited(fg.child).then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 30_000))]);
  if (!died) {
    fg.child.kill('SIGKILL');
    await exited(fg.child);
  }
  process.stdout.write(`kill -9 #${k} (${died ? 'itself, between a commit and its answers' : 'from outside: the armed fault did not fire in 30 s'}) after ${accepted.size} accepted\n`);
  fg = await startFlowgate(env, port);
}
await new Promise((r) => setTimeout(r, 1000));
running = false;
await load;

// Wait (bounded) until every accepted execution is terminal.
const db = () => new Database(path.join(dataDir, 'flowgate.db'), { fileMustExist: true });
const deadline = Date.now() + 120_000;
let notTerminal = accepted.size;
while (Date.now() < deadline) {
  const d = db();
  // Every stored run counts, answered or not: one committed just before a kill must end too.
  notTerminal = (d.prepare("SELECT count(*) AS n FROM executions WHERE status IN ('init','executing')").get() as { n: number }).n;
  d.close();
  if (notTerminal === 0) break;
  await new Promise((r) => setTimeout(r, 250));
}

// And (bounded by the same deadline) until every finished run's event has arrived.
const finishedRuns = () => {
  const d = db();
  const ids = (d.prepare("SELECT id FROM executions WHERE status = 'finish'").all() as { id: string }[]).map((r) => r.id);
  d.close();
  return ids;
};
let eventsMissing = finishedRuns().filter((id) => !finishedEvents.has(id)).length;
while (eventsMissing > 0 && Date.now() < deadline) {
  await new Promise((r) => setTimeout(r, 250));
  eventsMissing = finishedRuns().filter((id) => !finishedEvents.has(id)).length;
}

const d = db();
const stored = new Set((d.prepare('SELECT id FROM executions').all() as { id: string }[]).map((r) => r.id));
const nodes = d.prepare("SELECT execution_id, status, attempts FROM node_executions WHERE node_id = 'call'").all() as { execution_id: string; status: string; attempts: number }[];
const failedRuns = (d.prepare("SELECT count(*) AS n FROM executions WHERE status = 'failed'").get() as { n: number }).n;
d.close();
await fg.stop();
receiver.close();

const lost = [...accepted].filter((id) => !stored.has(id)).length;
// Workflow set-up runs none; every stored execution came from the load.
const unanswered = [...stored].filter((id) => !accepted.has(id)).length;
let repeatedInFlight = 0;
let duplicateSideEffects = 0;
let missingSideEffects = 0;
for (const n of nodes) {
  const seen = calls.get(`${n.execution_id}:call`) ?? 0;
  if (n.status === 'finish' && seen === 0) missingSideEffects++;
  // More calls than attempts would mean a finished node ran again; up to one per attempt is the
  // at-least-once contract for calls in flight at a crash (same Idempotency-Key each time).
  if (seen > n.attempts) duplicateSideEffects++;
  else if (seen > 1) repeatedInFlight++;
}
process.stdout.write(
  [
    '',
    `requests sent                       ${sent} (${refused} refused while the server was down)`,
    `2xx answers (accepted executions)   ${accepted.size}`,
    `accepted but not stored (lost)      ${lost}`,
    `committed, killed before the answer ${unanswered} (the sender saw an error and may retry; they ran like the rest)`,
    `not terminal after recovery         ${notTerminal}`,
    `failed runs                         ${failedRuns}`,
    `finished http nodes never delivered ${missingSideEffects}`,
    `side effects repeated after finish  ${duplicateSideEffects}`,
    `in-flight calls repeated (allowed)  ${repeatedInFlight}`,
    `finished runs whose event never came ${eventsMissing}`,
    '',
  ].join('\n'),
);
const bad = lost + notTerminal + duplicateSideEffects + missingSideEffects + failedRuns + eventsMissing;
process.stdout.write(bad === 0 ? 'chaos: nothing lost\n' : 'chaos: FAILED\n');
process.exit(bad === 0 ? 0 : 1);
