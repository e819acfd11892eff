import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { exited, freePort, processEnv, spawnServers, spawnWorker, type ServerProcess } from '../helpers/process.ts';
import { freshTarget, STORE_KINDS, TEST_DATABASE_URL } from '../helpers/stores.ts';

const KEY = 'fg_worker_kill_test_key_00000000000';
const RUNS = 1000;

/** SPEC §5 / issue 8: 2 API + 2 worker processes on one PostgreSQL; one worker dies under load. */
describe('scale-out: kill -9 a worker mid-run', { skip: !STORE_KINDS.includes('postgres') }, () => {
  const target = freshTarget('postgres');
  const apis: ServerProcess[] = [];
  const workers: ChildProcess[] = [];
  const calls = new Map<string, number>();
  const rx = createServer((req, res) => {
    req.resume();
    const key = String(req.headers['idempotency-key']);
    calls.set(key, (calls.get(key) ?? 0) + 1);
    // Slow enough that the killed worker holds calls in flight.
    setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'), 20);
  });
  after(async () => {
    for (const p of apis) p.child.kill('SIGTERM');
    for (const w of workers) w.kill('SIGTERM');
    await Promise.all([...apis.map((p) => exited(p.child)), ...workers.map((w) => exited(w))]);
    rx.close();
    await target.cleanup(false);
  });

  let env: Record<string, string> = {};
  let canvasId = '';
  const post = (p: ServerProcess, path: string, body: unknown) =>
    fetch(`${p.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(body) }).then(
      (r) => r.json() as Promise<any>,
    );
  const openRuns = async () => {
    const db = new pg.Client({ connectionString: TEST_DATABASE_URL, options: `-c search_path=${target.config.databaseSchema}` });
    await db.connect();
    try {
      return Number((await db.query(`SELECT count(*) AS n FROM executions WHERE status NOT IN ('finish', 'failed')`)).rows[0].n);
    } finally {
      await db.end();
    }
  };

  it(`${RUNS} runs through two API processes all end; finished nodes were called once, in-flight ones at most again with the same key`, async () => {
    await new Promise<void>((r) => rx.listen(0, '127.0.0.1', r));
    const rxUrl = `http://127.0.0.1:${(rx.address() as { port: number }).port}/call`;
    env = processEnv(target, KEY, {
      FLOWGATE_MAX_BACKLOG: '1000000',
      FLOWGATE_ALLOW_PRIVATE_NETWORKS: 'true',
      // A dead worker's leases expire in 3 s instead of 30 s.
      FLOWGATE_LEASE_MS: '3000',
    });
    const ports = await Promise.all([1, 2].map(() => freePort()));
    apis.push(...(await spawnServers({ ...env, FLOWGATE_ROLE: 'api' }, ports)));
    for (let i = 0; i < 2; i++) {
      workers.push(spawnWorker(env));
    }
    const wf = await post(apis[0]!, '/v1/workflows', {
      title: 'kill',
      tasks: [
        { id: 'call', kind: 'http', request: { url: rxUrl, method: 'POST' } },
        { id: 'out', kind: 'output', dependentTasks: ['call'], value: '{{ tasks.call.output.status }}' },
      ],
    });
    canvasId = wf.data.canvasId;

    let submitted = 0;
    let killed = false;
    const ids: string[] = [];
    // Kill worker 1 once a fifth of the calls were made: both workers are busy, with calls in flight.
    const killer = (async () => {
      for (let i = 0; i < 1200 && calls.size < RUNS / 5; i++) await new Promise((r) => setTimeout(r, 50));
      killed = calls.size < RUNS;
      workers[0]!.kill('SIGKILL');
    })();
    await Promise.all(
      Array.from({ length: 20 }, async (_, lane) => {
        while (submitted < RUNS) {
          submitted++;
          const r = await post(apis[lane % 2]!, `/v1/openapi/workflow/${canvasId}/run`, {});
          assert.ok(r.success, JSON.stringify(r));
          ids.push(r.data.executionId);
        }
      }),
    );
    await killer;
    assert.ok(killed, 'the worker was killed while runs were in flight');

    const db = new pg.Client({ connectionString: TEST_DATABASE_URL, options: `-c search_path=${target.config.databaseSchema}` });
    await db.connect();
    try {
      let open = RUNS;
      for (let i = 0; i < 600 && open > 0; i++) {
        open = Number((await db.query(`SELECT count(*) AS n FROM executions WHERE status NOT IN ('finish', 'failed')`)).rows[0].n);
        if (open > 0) await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(open, 0, 'every accepted run reached a terminal state');
      const { rows } = await db.query(`SELECT status, count(*) AS n FROM executions GROUP BY status`);
      assert.deepEqual(rows.map((r) => [r.status, Number(r.n)]), [['finish', RUNS]]);
      const attempts = await db.query(`SELECT execution_id, count(*) AS n FROM node_attempts WHERE node_id = 'call' GROUP BY execution_id`);
      const attemptsOf = new Map(attempts.rows.map((r) => [r.execution_id as string, Number(r.n)]));
      let repeated = 0;
      for (const id of ids) {
        const n = calls.get(`${id}:call`) ?? 0;
        assert.ok(n >= 1, `${id} was called`);
        // A call repeats only when its first attempt was lost with the worker (lease expired), and then
        // with the same Idempotency-Key; a node that finished was never called again.
        assert.ok(n <= attemptsOf.get(id)!, `${id}: ${n} calls for ${attemptsOf.get(id)} attempts`);
        if (n > 1) repeated++;
      }
      process.stdout.write(`# ${RUNS} runs, worker killed mid-run; ${repeated} in-flight calls repeated with the same Idempotency-Key\n`);
    } finally {
      await db.end();
    }
  });

  it('SIGTERM drains a worker during a rolling restart: it exits 0 and its runs finish elsewhere', async () => {
    // Worker 2 is still running; a replacement starts, then worker 2 is drained under load.
    workers.push(spawnWorker(env));
    const before = calls.size;
    const ids: string[] = [];
    let next = 0;
    const submit = Promise.all(
      Array.from({ length: 10 }, async (_, lane) => {
        while (next++ < 300) ids.push((await post(apis[lane % 2]!, `/v1/openapi/workflow/${canvasId}/run`, {})).data.executionId);
      }),
    );
    for (let i = 0; i < 400 && calls.size < before + 50; i++) await new Promise((r) => setTimeout(r, 25));
    workers[1]!.kill('SIGTERM');
    assert.equal(await exited(workers[1]!), 0, 'a drained worker exits cleanly');
    await submit;
    let open = 1;
    for (let i = 0; i < 600 && open > 0; i++) {
      open = await openRuns();
      if (open > 0) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(open, 0, 'nothing is left behind by the drained worker');
    for (const id of ids) assert.ok((calls.get(`${id}:call`) ?? 0) >= 1, `${id} was called`);
  });
});
