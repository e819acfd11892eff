import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startTestServer, waitDone, type TestServer } from '../helpers/server.ts';
import { STORE_KINDS } from '../helpers/stores.ts';

/**
 * A worker runs at most `workerConcurrency` tasks at once. While its tasks are fast it holds more
 * claimed nodes, the rest waiting for a slot; with slow tasks it claims only what its slots can run.
 * Against a loopback receiver that holds each call until the test answers it.
 */
for (const kind of STORE_KINDS) {
  describe(`worker slots (${kind})`, () => {
    let t: TestServer;
    let url: string;
    const held: ServerResponse[] = [];
    /** The runs whose call reached the receiver (the http task's Idempotency-Key starts with the execution id). */
    const called = new Set<string>();
    let inFlight = 0;
    let mostInFlight = 0;
    let delayMs = 0;
    const rx = createServer((req, res) => {
      req.resume();
      called.add(String(req.headers['idempotency-key']).split(':')[0]);
      inFlight++;
      mostInFlight = Math.max(mostInFlight, inFlight);
      res.on('finish', () => inFlight--);
      if (delayMs) setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'), delayMs);
      else held.push(res);
    });
    const answerAll = () => held.splice(0).forEach((res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
    const until = async (cond: () => boolean | Promise<boolean>, what: string) => {
      for (let i = 0; i < 300; i++) {
        if (await cond()) return;
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error(`timed out waiting for ${what}`);
    };
    const trigger = async (n: number) => {
      const ids: string[] = [];
      for (let i = 0; i < n; i++) {
        const r = await t.api('POST', `/v1/openapi/workflow/${url}/run`, { body: { variables: {} } });
        assert.equal(r.status, 200, JSON.stringify(r.body));
        ids.push(r.body.data.executionId);
      }
      return ids;
    };
    const claimedRuns = async (ids: string[]) => {
      const nodes = await Promise.all(ids.map(async (id) => ({ id, nodes: await t.server.store.runs.listNodes(id) })));
      return nodes.filter((r) => r.nodes.some((n) => n.status === 'executing')).map((r) => r.id);
    };
    const claimed = async (ids: string[]) => (await claimedRuns(ids)).length;

    before(async () => {
      await new Promise<void>((r) => rx.listen(0, '127.0.0.1', r));
      t = await startTestServer(kind, { workerConcurrency: 2, allowPrivateNetworks: true });
      const wf = await t.api('POST', '/v1/workflows', {
        body: { title: 'slots', tasks: [{ id: 'call', kind: 'http', request: { method: 'POST', url: `http://127.0.0.1:${(rx.address() as AddressInfo).port}/` } }] },
      });
      url = wf.body.data.canvasId;
    });
    after(async () => {
      answerAll();
      await t.close();
      rx.closeAllConnections();
      await new Promise((r) => rx.close(r));
    });

    // Twice the slots on SQLite, four times on PostgreSQL (whose turns are round trips).
    const ahead = kind === 'sqlite' ? 4 : 8;
    it(`holds ${ahead / 2} times its slots in claimed nodes while tasks are fast, and never runs more than its slots`, async () => {
      const ids = await trigger(12);
      await until(() => inFlight === 2, 'two calls in flight');
      await until(async () => (await claimed(ids)) === ahead, `${ahead} nodes claimed`);
      // The claimed ones wait: no third call starts while two are held.
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(inFlight, 2);
      assert.equal(await claimed(ids), ahead);
      // A run aborted while its node waits for a slot: the node never calls out.
      const waiting = (await claimedRuns(ids)).find((id) => !called.has(id))!;
      assert.equal((await t.api('POST', `/v1/openapi/workflow/${waiting}/abort`)).status, 200);
      // Answered as they come, every run finishes, two calls at a time at most.
      const answering = setInterval(answerAll, 5);
      try {
        for (const id of ids) assert.equal((await waitDone(t, id)).status, id === waiting ? 'failed' : 'finish');
      } finally {
        clearInterval(answering);
      }
      assert.equal(mostInFlight, 2);
      assert.ok(!called.has(waiting), 'the aborted run made no call');
    });

    it('claims only what its slots can run once tasks are slow', async () => {
      delayMs = 150;
      // Slow calls raise the worker's recent mean task time past the threshold.
      for (const id of await trigger(8)) await waitDone(t, id);
      delayMs = 0;
      const ids = await trigger(6);
      await until(() => inFlight === 2, 'two calls in flight');
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(await claimed(ids), 2, 'no node claimed ahead of a slot');
      const answering = setInterval(answerAll, 5);
      try {
        for (const id of ids) assert.equal((await waitDone(t, id)).status, 'finish');
      } finally {
        clearInterval(answering);
      }
    });
  });
}
