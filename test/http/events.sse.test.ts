import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { ADMIN_KEY, startTestServer, type TestServer } from '../helpers/server.ts';
import { STORE_KINDS } from '../helpers/stores.ts';

/** Reads an SSE stream to its end (bounded by the server closing it after `end`). */
async function readEvents(url: string): Promise<{ event: string; data: any }[]> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
  assert.equal(res.headers.get('content-type'), 'text/event-stream');
  const text = await res.text();
  return text
    .split('\n\n')
    .filter((b) => b.includes('event: '))
    .map((b) => ({ event: /event: (.+)/.exec(b)![1]!, data: JSON.parse(/data: (.+)/.exec(b)![1]!) }));
}

for (const kind of STORE_KINDS) {
  describe(`execution events over SSE (${kind})`, () => {
    let t: TestServer;
    const slow = createServer((req, res) => {
      req.resume();
      setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'), 300);
    });
    before(async () => {
      await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
      t = await startTestServer(kind, { allowPrivateNetworks: true });
    });
    after(async () => {
      await t.close();
      slow.close();
    });

    it('streams every status change of the run and its nodes, then end, then closes', async () => {
      const wf = await t.api('POST', '/v1/workflows', {
        body: {
          title: 'SSE',
          tasks: [
            { id: 'call', kind: 'http', request: { url: `http://127.0.0.1:${(slow.address() as { port: number }).port}/` } },
            { id: 'out', kind: 'output', dependentTasks: ['call'], value: 1 },
          ],
        },
      });
      const run = await t.api('POST', `/v1/openapi/workflow/${wf.body.data.canvasId}/run`, { body: {} });
      const id = run.body.data.executionId;
      const events = await readEvents(`${t.url}/v1/openapi/workflow/${id}/events`);
      const exec = events.filter((e) => e.event === 'execution.status').map((e) => e.data.status);
      assert.equal(exec.at(-1), 'finish');
      const call = events.filter((e) => e.event === 'node.status' && e.data.nodeId === 'call').map((e) => e.data.status);
      assert.ok(call.includes('executing'), JSON.stringify(events));
      assert.equal(call.at(-1), 'finish');
      assert.deepEqual(events.at(-1), { event: 'end', data: { executionId: id, status: 'finish' } });
      // Every node's final status comes before the execution's final status, live and for a late subscriber.
      const late = await readEvents(`${t.url}/v1/openapi/workflow/${id}/events`);
      assert.equal(late.at(-1)!.event, 'end', 'a late subscriber gets the snapshot and end');
      for (const stream of [events, late]) {
        const finalExec = stream.findIndex((e) => e.event === 'execution.status' && e.data.status === 'finish');
        const lastNode = stream.findLastIndex((e) => e.event === 'node.status');
        assert.ok(lastNode < finalExec, JSON.stringify(stream.map((e) => [e.event, e.data.nodeId, e.data.status])));
      }
    });

    it('answers 404 for an unknown execution before streaming', async () => {
      const r = await t.api('GET', '/v1/openapi/workflow/we-00000000000000000000000000/events');
      assert.equal(r.status, 404);
      assert.equal(r.body.errCode, 'EXECUTION_NOT_FOUND');
    });
  });
}
