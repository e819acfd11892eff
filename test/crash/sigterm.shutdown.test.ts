import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { it } from 'node:test';
import { exited, freePort, processEnv, spawnServer } from '../helpers/process.ts';
import { freshTarget } from '../helpers/stores.ts';

const KEY = 'fg_sigterm_test_key_0000000000000000';
const auth = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };

/**
 * A Flowgate process on a fresh SQLite store, loading one workflow whose http tasks call a loopback
 * receiver; `respond` answers the receiver's `call`-th request (from 1). The process can be stopped
 * and started again on the same store.
 */
async function scenario(
  workflow: (receiverUrl: string) => { canvasId: string; title: string; tasks: unknown[] },
  respond: (call: number, res: ServerResponse) => void,
  extraEnv: Record<string, string> = {},
) {
  const target = freshTarget('sqlite');
  let calls = 0;
  const rx = createServer((req, res) => {
    req.resume();
    respond(++calls, res);
  });
  await new Promise<void>((r) => rx.listen(0, '127.0.0.1', r));
  const wf = workflow(`http://127.0.0.1:${(rx.address() as AddressInfo).port}/`);
  const wfFile = path.join(target.config.dataDir, `${wf.canvasId}.json`);
  writeFileSync(wfFile, JSON.stringify(wf));
  const env = processEnv(target, KEY, { FLOWGATE_WORKFLOWS: wfFile, FLOWGATE_ALLOW_PRIVATE_NETWORKS: 'true', ...extraEnv });
  const port = await freePort();
  let proc = await spawnServer(env, port);
  const status = async (executionId: string) => ((await (await fetch(`${proc.url}/v1/openapi/workflow/${executionId}/status`, { headers: auth })).json()) as { data: any }).data;
  return {
    get calls() {
      return calls;
    },
    get proc() {
      return proc;
    },
    /** Starts the process again on the same store (the previous one has exited). */
    async restart() {
      proc = await spawnServer(env, port);
    },
    async run(): Promise<string> {
      const r = await fetch(`${proc.url}/v1/openapi/workflow/${wf.canvasId}/run`, { method: 'POST', headers: auth, body: '{}' });
      return ((await r.json()) as { data: { executionId: string } }).data.executionId;
    },
    status,
    /** The run's status once it is `finish` (or the last one seen, after about 5 s). */
    async finished(executionId: string) {
      let s = await status(executionId);
      for (let i = 0; i < 200 && s.status !== 'finish'; i++) {
        await new Promise((r) => setTimeout(r, 25));
        s = await status(executionId);
      }
      return s;
    },
    async until(cond: () => boolean | Promise<boolean>) {
      for (let i = 0; i < 200 && !(await cond()); i++) await new Promise((r) => setTimeout(r, 10));
    },
    async close() {
      proc.child.kill('SIGTERM');
      await exited(proc.child);
      rx.closeAllConnections();
      rx.close();
      await target.cleanup(false);
    },
  };
}

const ok = (res: ServerResponse) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');

it('SIGTERM lets the node in flight finish, then exits 0; the run completes after restart', async () => {
  const s = await scenario(
    (url) => ({
      canvasId: 'c-slow',
      title: 'Slow',
      tasks: [
        { id: 'call', kind: 'http', request: { url } },
        { id: 'next', kind: 'transform', expression: 'tasks.call.output.status', dependentTasks: ['call'] },
      ],
    }),
    (_call, res) => setTimeout(() => ok(res), 500),
  );
  try {
    const id = await s.run();
    await s.until(() => s.calls > 0);
    assert.equal(s.calls, 1);
    s.proc.child.kill('SIGTERM');
    assert.equal(await exited(s.proc.child), 0, s.proc.output());

    await s.restart();
    assert.equal((await s.finished(id)).status, 'finish');
    assert.equal(s.calls, 1, 'the node finished during the grace period, so it was not called again');
  } finally {
    await s.close();
  }
});

it('a node still running when the grace period ends is handed back without spending its retry budget', async () => {
  const s = await scenario(
    (url) => ({ canvasId: 'c-hang', title: 'Hang once', tasks: [{ id: 'call', kind: 'http', retry: { maxAttempts: 1 }, request: { url } }] }),
    // The first call hangs past the grace period.
    (call, res) => call > 1 && ok(res),
    { FLOWGATE_SHUTDOWN_GRACE_MS: '200' },
  );
  try {
    const id = await s.run();
    await s.until(() => s.calls > 0);
    s.proc.child.kill('SIGTERM');
    assert.equal(await exited(s.proc.child), 0, s.proc.output());

    await s.restart();
    const body = await s.finished(id);
    assert.equal(body.status, 'finish', JSON.stringify(body));
    assert.deepEqual(
      body.nodeExecutions[0].attempts.map((a: { status: string; errCode?: string }) => [a.status, a.errCode ?? null]),
      [
        ['failed', 'WORKER_LOST'],
        ['finish', null],
      ],
    );
  } finally {
    await s.close();
  }
});

it('kill -9 during a retry wait: after restart the run finishes, and not before the retry was due', async () => {
  const s = await scenario(
    (url) => ({ canvasId: 'c-wait', title: 'Retry wait', tasks: [{ id: 'call', kind: 'http', request: { url } }] }),
    (call, res) => (call === 1 ? res.writeHead(503, { 'retry-after': '2' }).end() : ok(res)),
  );
  try {
    const id = await s.run();
    await s.until(async () => (await s.status(id)).nodeExecutions[0].status === 'waiting');
    s.proc.child.kill('SIGKILL');
    await exited(s.proc.child);
    await s.restart();
    const body = await s.finished(id);
    assert.equal(body.status, 'finish', JSON.stringify(body));
    const [a1, a2] = body.nodeExecutions[0].attempts;
    assert.equal(a1.httpStatus, 503);
    assert.ok(Date.parse(a2.startTime) >= Date.parse(a1.nextAttemptAt), 'the restart did not hurry the retry');
    assert.equal(s.calls, 2);
  } finally {
    await s.close();
  }
});

it('nodes claimed ahead and still waiting for a slot at SIGTERM do not start; after restart each runs once', async () => {
  // One slot: the worker holds two claimed nodes, one running and one waiting.
  const s = await scenario(
    (url) => ({ canvasId: 'c-queued', title: 'Queued', tasks: [{ id: 'call', kind: 'http', request: { url } }] }),
    (_call, res) => setTimeout(() => ok(res), 300),
    { FLOWGATE_WORKER_CONCURRENCY: '1', FLOWGATE_SHUTDOWN_GRACE_MS: '3000' },
  );
  try {
    const ids = [await s.run(), await s.run(), await s.run()];
    await s.until(() => s.calls > 0);
    s.proc.child.kill('SIGTERM');
    assert.equal(await exited(s.proc.child), 0, s.proc.output());
    assert.equal(s.calls, 1, 'only the running node called out; the waiting one did not start during the grace period');

    await s.restart();
    for (const id of ids) assert.equal((await s.finished(id)).status, 'finish', id);
    assert.equal(s.calls, 3, 'each run called out once');
  } finally {
    await s.close();
  }
});
