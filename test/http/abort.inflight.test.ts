import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { startTestServer, waitDone, type TestServer } from '../helpers/server.ts';
import { STORE_KINDS } from '../helpers/stores.ts';

/** A third party that never answers; it records when Flowgate hangs up. */
function hangingReceiver(): Promise<{ server: Server; url: string; opened: () => number; closed: Promise<void> }> {
  let opened = 0;
  let markClosed!: () => void;
  const closed = new Promise<void>((r) => (markClosed = r));
  const server = createServer((req) => {
    opened++;
    req.socket.once('close', markClosed);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, opened: () => opened, closed })),
  );
}

for (const kind of STORE_KINDS) {
  describe(`abort cancels work in flight (${kind})`, () => {
    let t: TestServer;
    before(async () => {
      t = await startTestServer(kind, { allowPrivateNetworks: true });
    });
    after(() => t.close());

    it('?wait holds the answer until a slow run finishes', async () => {
      const slow = createServer((req, res) => {
        req.resume();
        setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"done":true}'), 300);
      });
      await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
      try {
        const wf = await t.api('POST', '/v1/workflows', {
          body: { title: 'Slow', tasks: [{ id: 'call', kind: 'http', request: { url: `http://127.0.0.1:${(slow.address() as { port: number }).port}/` } }] },
        });
        const r = await t.api('POST', `/v1/openapi/workflow/${wf.body.data.canvasId}/run?wait=10`, { body: {} });
        assert.equal(r.body.data.status, 'finish');
        assert.deepEqual(r.body.data.output[0].value.body, { done: true });
      } finally {
        slow.close();
      }
    });

    it('cancels the in-flight http call and never starts pending nodes', async () => {
      const rx = await hangingReceiver();
      try {
        const wf = await t.api('POST', '/v1/workflows', {
          body: {
            title: 'Hangs',
            tasks: [
              { id: 'call', kind: 'http', request: { url: `${rx.url}/slow` }, timeoutMs: 120_000, retry: { maxAttempts: 1 } },
              { id: 'after', kind: 'transform', expression: '1', dependentTasks: ['call'] },
            ],
          },
        });
        assert.equal(wf.status, 201, JSON.stringify(wf.body));
        const run = await t.api('POST', `/v1/openapi/workflow/${wf.body.data.canvasId}/run`, { body: {} });
        const id = run.body.data.executionId;
        for (let i = 0; i < 200 && rx.opened() === 0; i++) await new Promise((r) => setTimeout(r, 25));
        assert.equal(rx.opened(), 1, 'the http node reached the receiver');
        const abort = await t.api('POST', `/v1/openapi/workflow/${id}/abort`);
        assert.equal(abort.body.data.aborted, true);
        assert.equal(abort.body.data.errCode, 'EXECUTION_ABORTED');
        // The receiver sees the connection closed: the call was cancelled, not left to time out.
        await Promise.race([rx.closed, new Promise((_, rej) => setTimeout(() => rej(new Error('call not cancelled')), 10_000))]);
        const done = await waitDone(t, id);
        assert.equal(done.status, 'failed');
        const nodes = Object.fromEntries(done.nodeExecutions.map((n: { nodeId: string; status: string }) => [n.nodeId, n]));
        assert.equal(nodes.call.status, 'failed');
        assert.equal(nodes.call.errCode, 'EXECUTION_ABORTED');
        assert.equal(nodes.after.status, 'init', 'a pending node never starts');
      } finally {
        rx.server.closeAllConnections();
        rx.server.close();
      }
    });
  });
}
