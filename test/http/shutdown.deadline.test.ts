import assert from 'node:assert/strict';
import http from 'node:http';
import { describe, it } from 'node:test';
import { exited, freePort, processEnv, spawnServer } from '../helpers/process.ts';
import { freshTarget } from '../helpers/stores.ts';

const KEY = 'fg_shutdown_test_key_0000000000000000';
const GRACE_MS = 2000;

/** A downstream that accepts calls and never answers: the slow third party of the issue. */
function blackHole(): Promise<{ server: http.Server; url: string; calls: () => number }> {
  let calls = 0;
  const server = http.createServer((req) => {
    calls++;
    req.resume();
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, calls: () => calls })));
}

describe('shutdown has a deadline', () => {
  it('SIGTERM with an idle keep-alive socket, an SSE stream, a ?wait request and a hung downstream call in flight: exits by grace + 5 s, telling each client', async () => {
    const target = freshTarget('sqlite');
    const hole = await blackHole();
    const port = await freePort();
    const proc = await spawnServer(processEnv(target, KEY, { FLOWGATE_SHUTDOWN_GRACE_MS: String(GRACE_MS), FLOWGATE_ALLOW_PRIVATE_NETWORKS: 'true' }), port);
    const auth = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };
    try {
      const put = await fetch(`${proc.url}/v1/workflows`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ title: 'Hang', tasks: [{ id: 'call', kind: 'http', timeoutMs: 120_000, request: { method: 'POST', url: `${hole.url}/slow`, body: {} } }] }),
      });
      const created = (await put.json()) as any;
      assert.ok(put.ok, JSON.stringify(created));
      const canvasId = created.data.canvasId;
      const run = (await (await fetch(`${proc.url}/v1/openapi/workflow/${canvasId}/run`, { method: 'POST', headers: auth, body: '{}' })).json()) as any;
      const executionId = run.data.executionId;

      // 1. An idle keep-alive connection.
      const agent = new http.Agent({ keepAlive: true });
      await new Promise<void>((resolve, reject) => http.get(`${proc.url}/healthz`, { agent }, (res) => res.resume().on('end', resolve)).on('error', reject));
      // 2. An open SSE stream.
      let sse = '';
      const sseDone = new Promise<void>((resolve) => {
        http.get(`${proc.url}/v1/openapi/workflow/${executionId}/events`, { headers: auth }, (res) => {
          res.setEncoding('utf8');
          res.on('data', (c: string) => (sse += c));
          res.on('end', resolve);
          res.on('error', () => resolve());
          res.on('close', resolve);
        });
      });
      // 3. A long-poll that would wait 60 s.
      const waiting = fetch(`${proc.url}/v1/openapi/workflow/${canvasId}/run?wait=60`, { method: 'POST', headers: auth, body: '{}' }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));
      // 4. The downstream calls in flight.
      for (let i = 0; i < 100 && hole.calls() < 2; i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(hole.calls(), 2, 'both runs are calling the hung downstream');

      const started = Date.now();
      proc.child.kill('SIGTERM');
      const code = await exited(proc.child);
      const took = Date.now() - started;
      assert.ok(took < GRACE_MS + 5000 + 2000, `exited after ${took} ms`);
      assert.notEqual(code, null);

      const answered = await waiting;
      assert.equal(answered.status, 200, 'the long-poll got an answer, not a cut connection');
      assert.equal(answered.body.success, true);
      await sseDone;
      assert.match(sse, /event: shutdown/, 'the stream says why it ends');
      agent.destroy();
    } finally {
      if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
      hole.server.closeAllConnections();
      hole.server.close();
      await target.cleanup(false);
    }
  });
});
