import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import { exited, freePort, spawnServer } from '../helpers/process.ts';
import { freshTarget } from '../helpers/stores.ts';

const KEY = 'fg_sigterm_test_key_0000000000000000';

it('SIGTERM lets the node in flight finish, then exits 0; the run completes after restart', async () => {
  const target = freshTarget('sqlite');
  let calls = 0;
  const rx = createServer((req, res) => {
    calls++;
    req.resume();
    setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'), 500);
  });
  await new Promise<void>((r) => rx.listen(0, '127.0.0.1', r));
  const wfFile = path.join(target.config.dataDir, 'slow.json');
  writeFileSync(
    wfFile,
    JSON.stringify({
      canvasId: 'c-slow',
      title: 'Slow',
      tasks: [
        { id: 'call', kind: 'http', request: { url: `http://127.0.0.1:${(rx.address() as { port: number }).port}/` } },
        { id: 'next', kind: 'transform', expression: 'tasks.call.output.status', dependentTasks: ['call'] },
      ],
    }),
  );
  const env = { FLOWGATE_DATA_DIR: target.config.dataDir, FLOWGATE_API_KEY: KEY, FLOWGATE_WORKFLOWS: wfFile, FLOWGATE_ALLOW_PRIVATE_NETWORKS: 'true', FLOWGATE_RATE_LIMIT_PER_MINUTE: '1000000', LOG_LEVEL: 'warn' };
  const port = await freePort();
  let proc = await spawnServer(env, port);
  const auth = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };
  try {
    const run = await fetch(`${proc.url}/v1/openapi/workflow/c-slow/run`, { method: 'POST', headers: auth, body: '{}' });
    const { data } = (await run.json()) as { data: { executionId: string } };
    for (let i = 0; i < 200 && calls === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(calls, 1);
    proc.child.kill('SIGTERM');
    assert.equal(await exited(proc.child), 0, proc.output());

    proc = await spawnServer(env, port);
    let status = '';
    for (let i = 0; i < 200 && status !== 'finish'; i++) {
      const r = await fetch(`${proc.url}/v1/openapi/workflow/${data.executionId}/status`, { headers: auth });
      status = ((await r.json()) as { data: { status: string } }).data.status;
      if (status !== 'finish') await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal(status, 'finish');
    assert.equal(calls, 1, 'the node finished during the grace period, so it was not called again');
  } finally {
    proc.child.kill('SIGTERM');
    await exited(proc.child);
    rx.close();
    await target.cleanup(false);
  }
});

it('a node still running when the grace period ends is handed back without spending its retry budget', async () => {
  const target = freshTarget('sqlite');
  let calls = 0;
  const rx = createServer((req, res) => {
    calls++;
    req.resume();
    if (calls === 1) return; // the first call hangs past the grace period
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
  await new Promise<void>((r) => rx.listen(0, '127.0.0.1', r));
  const wfFile = path.join(target.config.dataDir, 'hang.json');
  writeFileSync(
    wfFile,
    JSON.stringify({
      canvasId: 'c-hang',
      title: 'Hang once',
      tasks: [{ id: 'call', kind: 'http', retry: { maxAttempts: 1 }, request: { url: `http://127.0.0.1:${(rx.address() as { port: number }).port}/` } }],
    }),
  );
  const env = {
    FLOWGATE_DATA_DIR: target.config.dataDir,
    FLOWGATE_API_KEY: KEY,
    FLOWGATE_WORKFLOWS: wfFile,
    FLOWGATE_ALLOW_PRIVATE_NETWORKS: 'true',
    FLOWGATE_SHUTDOWN_GRACE_MS: '200',
    LOG_LEVEL: 'warn',
  };
  const port = await freePort();
  let proc = await spawnServer(env, port);
  const auth = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };
  try {
    const run = await fetch(`${proc.url}/v1/openapi/workflow/c-hang/run`, { method: 'POST', headers: auth, body: '{}' });
    const { data } = (await run.json()) as { data: { executionId: string } };
    for (let i = 0; i < 200 && calls === 0; i++) await new Promise((r) => setTimeout(r, 10));
    proc.child.kill('SIGTERM');
    assert.equal(await exited(proc.child), 0, proc.output());

    proc = await spawnServer(env, port);
    let body: { status: string; nodeExecutions: { attempts: { errCode?: string; status: string }[] }[] } | undefined;
    for (let i = 0; i < 200 && body?.status !== 'finish'; i++) {
      const r = await fetch(`${proc.url}/v1/openapi/workflow/${data.executionId}/status`, { headers: auth });
      body = ((await r.json()) as { data: typeof body }).data;
      if (body?.status !== 'finish') await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal(body?.status, 'finish', JSON.stringify(body));
    assert.deepEqual(body!.nodeExecutions[0]!.attempts.map((a) => [a.status, a.errCode ?? null]), [
      ['failed', 'WORKER_LOST'],
      ['finish', null],
    ]);
  } finally {
    proc.child.kill('SIGTERM');
    await exited(proc.child);
    rx.closeAllConnections();
    rx.close();
    await target.cleanup(false);
  }
});

it('kill -9 during a retry wait: after restart the run finishes, and not before the retry was due', async () => {
  const target = freshTarget('sqlite');
  let calls = 0;
  const rx = createServer((req, res) => {
    calls++;
    req.resume();
    if (calls === 1) return res.writeHead(503, { 'retry-after': '2' }).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
  await new Promise<void>((r) => rx.listen(0, '127.0.0.1', r));
  const wfFile = path.join(target.config.dataDir, 'wait.json');
  writeFileSync(
    wfFile,
    JSON.stringify({ canvasId: 'c-wait', title: 'Retry wait', tasks: [{ id: 'call', kind: 'http', request: { url: `http://127.0.0.1:${(rx.address() as { port: number }).port}/` } }] }),
  );
  const env = { FLOWGATE_DATA_DIR: target.config.dataDir, FLOWGATE_API_KEY: KEY, FLOWGATE_WORKFLOWS: wfFile, FLOWGATE_ALLOW_PRIVATE_NETWORKS: 'true', LOG_LEVEL: 'warn' };
  const port = await freePort();
  let proc = await spawnServer(env, port);
  const auth = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };
  try {
    const run = await fetch(`${proc.url}/v1/openapi/workflow/c-wait/run`, { method: 'POST', headers: auth, body: '{}' });
    const { data } = (await run.json()) as { data: { executionId: string } };
    const status = async () => ((await (await fetch(`${proc.url}/v1/openapi/workflow/${data.executionId}/status`, { headers: auth })).json()) as { data: any }).data;
    for (let i = 0; i < 200 && (await status()).nodeExecutions[0].status !== 'waiting'; i++) await new Promise((r) => setTimeout(r, 10));
    proc.child.kill('SIGKILL');
    await exited(proc.child);
    proc = await spawnServer(env, port);
    let s = await status();
    for (let i = 0; i < 200 && s.status !== 'finish'; i++) {
      await new Promise((r) => setTimeout(r, 25));
      s = await status();
    }
    assert.equal(s.status, 'finish', JSON.stringify(s));
    const [a1, a2] = s.nodeExecutions[0].attempts;
    assert.equal(a1.httpStatus, 503);
    assert.ok(Date.parse(a2.startTime) >= Date.parse(a1.nextAttemptAt), 'the restart did not hurry the retry');
    assert.equal(calls, 2);
  } finally {
    proc.child.kill('SIGTERM');
    await exited(proc.child);
    rx.close();
    await target.cleanup(false);
  }
});

it('nodes claimed ahead and still waiting for a slot at SIGTERM do not start; after restart each runs once', async () => {
  const target = freshTarget('sqlite');
  let calls = 0;
  const rx = createServer((req, res) => {
    calls++;
    req.resume();
    setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'), 300);
  });
  await new Promise<void>((r) => rx.listen(0, '127.0.0.1', r));
  const wfFile = path.join(target.config.dataDir, 'queued.json');
  writeFileSync(
    wfFile,
    JSON.stringify({ canvasId: 'c-queued', title: 'Queued', tasks: [{ id: 'call', kind: 'http', request: { url: `http://127.0.0.1:${(rx.address() as { port: number }).port}/` } }] }),
  );
  // One slot: the worker holds two claimed nodes, one running and one waiting.
  const env = { FLOWGATE_DATA_DIR: target.config.dataDir, FLOWGATE_API_KEY: KEY, FLOWGATE_WORKFLOWS: wfFile, FLOWGATE_ALLOW_PRIVATE_NETWORKS: 'true', FLOWGATE_WORKER_CONCURRENCY: '1', FLOWGATE_SHUTDOWN_GRACE_MS: '3000', LOG_LEVEL: 'warn' };
  const port = await freePort();
  let proc = await spawnServer(env, port);
  const auth = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };
  try {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const run = await fetch(`${proc.url}/v1/openapi/workflow/c-queued/run`, { method: 'POST', headers: auth, body: '{}' });
      ids.push(((await run.json()) as { data: { executionId: string } }).data.executionId);
    }
    for (let i = 0; i < 200 && calls === 0; i++) await new Promise((r) => setTimeout(r, 10));
    proc.child.kill('SIGTERM');
    assert.equal(await exited(proc.child), 0, proc.output());
    assert.equal(calls, 1, 'only the running node called out; the waiting one did not start during the grace period');

    proc = await spawnServer(env, port);
    for (const id of ids) {
      let status = '';
      for (let i = 0; i < 200 && status !== 'finish'; i++) {
        const r = await fetch(`${proc.url}/v1/openapi/workflow/${id}/status`, { headers: auth });
        status = ((await r.json()) as { data: { status: string } }).data.status;
        if (status !== 'finish') await new Promise((r) => setTimeout(r, 25));
      }
      assert.equal(status, 'finish', id);
    }
    assert.equal(calls, 3, 'each run called out once');
  } finally {
    proc.child.kill('SIGTERM');
    await exited(proc.child);
    rx.closeAllConnections();
    rx.close();
    await target.cleanup(false);
  }
});
