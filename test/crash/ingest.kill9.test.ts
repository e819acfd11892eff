import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { exited, freePort, processEnv, spawnServer } from '../helpers/process.ts';
import { freshTarget, STORE_KINDS } from '../helpers/stores.ts';

const KEY = 'fg_ingest_crash_key_0000000000000000';

/**
 * Group commit under `kill -9`: many webhook calls share each transaction, and the process dies while
 * commits are in flight. Every call answered 2xx must have its execution, its history row and its
 * `webhook.received` event (one transaction, committed before the answer); no answered call is lost.
 */
for (const kind of STORE_KINDS) {
  describe(`kill -9 during group commits (${kind})`, () => {
    it('every 2xx webhook call has its execution, history row and webhook.received event', async () => {
      const target = freshTarget(kind);
      const env = processEnv(target, KEY, { FLOWGATE_ALLOW_PRIVATE_NETWORKS: 'true', FLOWGATE_RATE_LIMIT_PER_DAY: '10000000', FLOWGATE_ROLE: 'api' });
      const port = await freePort();
      let proc = await spawnServer(env, port);
      const call = async (method: string, path: string, body?: unknown) => {
        const r = await fetch(`${proc.url}${path}`, {
          method,
          headers: { authorization: `Bearer ${KEY}`, ...(body ? { 'content-type': 'application/json' } : {}) },
          body: body ? JSON.stringify(body) : undefined,
        });
        return ((await r.json()) as { data: any }).data;
      };
      const wf = await call('POST', '/v1/workflows', { title: 'Ingest crash', variables: [{ name: 'n', variableType: 'number' }], tasks: [{ id: 'out', kind: 'output', value: '{{ variables.n }}' }] });
      const wh = await call('POST', '/v1/webhook/enable', { canvasId: wf.canvasId });
      // Messages are written whether or not anything listens at the URL; nothing is delivered here (role api).
      const ep = await call('POST', '/v1/event-endpoints', { url: 'http://127.0.0.1:9/events', eventTypes: ['webhook.received'] });

      const answered: { executionId: string; n: number }[] = [];
      let stop = false;
      const fire = async (lane: number) => {
        for (let n = lane; !stop && n < 100_000; n += 40) {
          try {
            const r = await fetch(`${proc.url}/v1/openapi/webhook/${wh.webhookId}/run`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ variables: { n } }),
            });
            const body = (await r.json()) as { data?: { executionId: string } };
            if (r.status === 200 && body.data) answered.push({ executionId: body.data.executionId, n });
          } catch {
            return; // the server died under us: an unanswered call was never acknowledged
          }
        }
      };
      const lanes = Promise.all(Array.from({ length: 40 }, (_, i) => fire(i)));
      const deadline = Date.now() + 30_000;
      while (answered.length < 600 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
      assert.ok(answered.length >= 600, `only ${answered.length} calls answered before the kill:\n${proc.output()}`);
      proc.child.kill('SIGKILL');
      await exited(proc.child);
      stop = true;
      await lanes;

      proc = await spawnServer(env, port);
      try {
        const history = new Map<string, string>();
        for (let page = 1; ; page++) {
          const h = await call('GET', `/v1/webhook/history?webhookId=${wh.webhookId}&page=${page}&pageSize=100`);
          for (const r of h.records) if (r.executionId) history.set(r.executionId, r.callStatus);
          if (h.records.length < 100) break;
        }
        const received = new Set<string>();
        for (let cursor: string | undefined; ; ) {
          const page = await call('GET', `/v1/event-endpoints/${ep.id}/messages?limit=100${cursor ? `&cursor=${cursor}` : ''}`);
          for (const m of page.messages as { executionId: string }[]) received.add(m.executionId);
          if (!page.nextCursor) break;
          cursor = page.nextCursor;
        }
        for (const a of answered) {
          const s = await call('GET', `/v1/openapi/workflow/${a.executionId}/status`);
          assert.equal(s?.executionId, a.executionId, `answered execution ${a.executionId} must exist after the crash`);
          assert.equal(history.get(a.executionId), 'accepted', `${a.executionId}: its history row committed with it`);
          assert.ok(received.has(a.executionId), `${a.executionId}: its webhook.received event committed with it`);
        }
        assert.equal(new Set(answered.map((a) => a.executionId)).size, answered.length, 'no execution answered twice');
        process.stdout.write(`# ingest crash (${kind}): ${answered.length} answered, each with execution, history row and event\n`);
      } finally {
        proc.child.kill('SIGTERM');
        await exited(proc.child);
        await target.cleanup(false);
      }
    });
  });
}
