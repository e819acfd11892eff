import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { readMigrations } from '../../src/store/migrations.ts';
import { exited, freePort, processEnv, spawnServer, spawnServers, spawnWorker, type ServerProcess } from '../helpers/process.ts';
import { freshTarget, STORE_KINDS, TEST_DATABASE_URL, type StoreTarget } from '../helpers/stores.ts';

const KEY = 'fg_scaleout_test_key_000000000000000';

/** Several real processes on one PostgreSQL schema (SPEC §5). */
describe('scale-out on PostgreSQL', { skip: !STORE_KINDS.includes('postgres') }, () => {
  let target: StoreTarget;
  let env: Record<string, string>;
  const procs: ServerProcess[] = [];
  const extra: ChildProcess[] = [];
  before(() => {
    target = freshTarget('postgres');
    env = processEnv(target, KEY);
  });
  after(async () => {
    for (const p of procs) p.child.kill('SIGTERM');
    for (const c of extra) c.kill('SIGTERM');
    await Promise.all([...procs.map((p) => exited(p.child)), ...extra.map((c) => exited(c))]);
    await target.cleanup(false);
  });

  it('four processes cold-starting at once on an empty schema apply the migrations once', async () => {
    const ports = await Promise.all([1, 2, 3, 4].map(() => freePort()));
    const started = await spawnServers({ ...env, FLOWGATE_ROLE: 'api' }, ports);
    procs.push(...started);
    const c = new pg.Client({ connectionString: TEST_DATABASE_URL, options: `-c search_path=${target.config.databaseSchema}` });
    await c.connect();
    const { rows } = await c.query('SELECT id FROM flowgate_migrations ORDER BY id');
    await c.end();
    // Each migration exactly once, none missing: the others waited on the advisory lock.
    assert.deepEqual(rows.map((r) => Number(r.id)), readMigrations('postgres').map((m) => m.id));
  });

  it('four processes cold-starting together with one workflows folder and no key: every round, all start, one first key, each workflow once', async () => {
    const files = readdirSync('examples/workflows').filter((f) => /\.(json|ya?ml)$/.test(f)).length;
    for (let round = 1; round <= 3; round++) {
      const fresh = freshTarget('postgres');
      const roundEnv = { ...processEnv(fresh, ''), FLOWGATE_WORKFLOWS: 'examples/workflows' };
      const ports = await Promise.all([1, 2, 3, 4].map(() => freePort()));
      const settled = await Promise.allSettled(ports.map((port) => spawnServer(roundEnv, port)));
      const up = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
      try {
        assert.equal(up.length, 4, `round ${round}: ${settled.map((s) => (s.status === 'rejected' ? String(s.reason) : 'ok')).join('\n')}`);
        const printed = up.filter((p) => /fg_[A-Za-z0-9]{32}/.test(p.output()));
        assert.equal(printed.length, 1, `round ${round}: exactly one process created and printed the first-start key`);
        const c = new pg.Client({ connectionString: TEST_DATABASE_URL, options: `-c search_path=${fresh.config.databaseSchema}` });
        await c.connect();
        const count = async (table: string) => Number((await c.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);
        const [keys, workflows, versions] = [await count('api_keys'), await count('workflows'), await count('workflow_versions')];
        await c.end();
        assert.deepEqual({ keys, workflows, versions }, { keys: 1, workflows: files, versions: files }, `round ${round}`);
      } finally {
        for (const p of up) p.child.kill('SIGTERM');
        await Promise.all(up.map((p) => exited(p.child)));
        await fresh.cleanup(false);
      }
    }
  });

  it('API-only processes accept; a separate worker, woken by NOTIFY, runs; one key is one execution across processes', async () => {
    // The worker polls only every 30 s: a run that finishes within seconds was woken by LISTEN/NOTIFY.
    const worker = spawnWorker({ ...env, FLOWGATE_POLL_MS: '30000' });
    extra.push(worker);
    const [a, b] = procs;
    const call = (p: ServerProcess, path: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${p!.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) }).then(
        async (r) => ({ status: r.status, body: (await r.json()) as any }),
      );
    const wf = await call(a!, '/v1/workflows', { title: 'Split', tasks: [{ id: 'o', kind: 'output', value: 1 }] });
    const canvasId = wf.body.data.canvasId;
    // Give the worker a moment to start listening (bounded).
    let finished = false;
    for (let i = 0; i < 20 && !finished; i++) {
      const r = await call(a!, `/v1/openapi/workflow/${canvasId}/run?wait=3`, {});
      finished = r.body.data.status === 'finish';
    }
    assert.ok(finished, 'runs accepted by an API process are run by the worker process');
    // The worker is now idle in a 30 s poll sleep; only a notification can wake it for this one.
    const woken = await call(b!, `/v1/openapi/workflow/${canvasId}/run?wait=5`, {});
    assert.equal(woken.body.data.status, 'finish', 'NOTIFY woke the worker in another process');

    const same = await Promise.all(Array.from({ length: 10 }, (_, i) => call(i % 2 ? b! : a!, `/v1/openapi/workflow/${canvasId}/run`, {}, { 'idempotency-key': 'cross-process-1' })));
    const ids = new Set(same.filter((r) => r.status === 200).map((r) => r.body.data.executionId));
    assert.equal(ids.size, 1, JSON.stringify(same.map((r) => r.status)));
    assert.ok(same.every((r) => r.status === 200 || r.body.errCode === 'IDEMPOTENCY_IN_PROGRESS'));

    const wh = await call(a!, '/v1/webhook/enable', { canvasId });
    const events = await Promise.all(
      Array.from({ length: 10 }, (_, i) => call(i % 2 ? b! : a!, `/v1/openapi/webhook/${wh.body.data.webhookId}/run`, { variables: {} }, { 'webhook-id': 'msg_cross' })),
    );
    assert.ok(events.every((r) => r.status === 200));
    assert.equal(new Set(events.map((r) => r.body.data.executionId)).size, 1);
  });

  it('rate limits are shared by every API process (counted in PostgreSQL when there is no Redis)', async () => {
    const ports = await Promise.all([1, 2].map(() => freePort()));
    const limited = await spawnServers({ ...env, FLOWGATE_ROLE: 'api', FLOWGATE_RATE_LIMIT_PER_MINUTE: '10', REDIS_URL: '' }, ports);
    procs.push(...limited);
    const wf = await fetch(`${limited[0]!.url}/v1/workflows`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'Limited', tasks: [{ id: 'o', kind: 'output', value: 1 }] }),
    }).then((r) => r.json() as Promise<any>);
    const statuses: number[] = [];
    for (let i = 0; i < 16; i++) {
      const p = limited[i % 2]!;
      const r = await fetch(`${p.url}/v1/openapi/workflow/${wf.data.canvasId}/run`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: '{}' });
      statuses.push(r.status);
    }
    // 10 per minute for the workspace, whichever process answers: not 10 per process.
    assert.equal(statuses.filter((s) => s === 200).length, 10, statuses.join());
    assert.equal(statuses.filter((s) => s === 429).length, 6, statuses.join());
  });
});
