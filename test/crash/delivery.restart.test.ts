import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { receiver, until } from '../delivery/receiver.ts';
import { exited, freePort, processEnv, spawnServer } from '../helpers/process.ts';
import { freshTarget, STORE_KINDS } from '../helpers/stores.ts';

const KEY = 'fg_delivery_restart_key_000000000000';

for (const kind of STORE_KINDS) {
  describe(`outbound events across a crash (${kind})`, () => {
    it('kill -9 during a delivery backoff: after restart every event is delivered, none early, none lost', async () => {
      const target = freshTarget(kind);
      const rx = await receiver();
      let up = false;
      rx.answer = (_d, res) => (up ? res.writeHead(200).end() : res.writeHead(503).end());
      const env = processEnv(target, KEY, {
        FLOWGATE_ALLOW_PRIVATE_NETWORKS: 'true',
        // The second attempt waits 3 s (±20%) in the store: the process dies inside that wait.
        FLOWGATE_DELIVERY_RETRY_SCHEDULE: '0,3,3',
        FLOWGATE_POLL_MS: '50',
        // A delivery in flight at the kill comes back when its lease (timeout + 5 s) expires.
        FLOWGATE_DELIVERY_TIMEOUT_MS: '2000',
      });
      const port = await freePort();
      let proc = await spawnServer(env, port);
      const call = async (method: string, path: string, body?: unknown) => {
        const r = await fetch(`${proc.url}${path}`, { method, headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
        return (await r.json()) as any;
      };
      try {
        const ep = await call('POST', '/v1/event-endpoints', { url: `${rx.url}/in`, eventTypes: ['execution.finished'] });
        rx.secrets.push(ep.data.secret);
        const wf = await call('POST', '/v1/workflows', { title: 'r', tasks: [{ id: 'o', kind: 'output', value: 1 }] });
        const ids: string[] = [];
        for (let i = 0; i < 20; i++) ids.push((await call('POST', `/v1/openapi/workflow/${wf.data.canvasId}/run`, {})).data.executionId);
        // Every event has had its first (failed) attempt: each is now waiting out its backoff in the store.
        await until(() => new Set(rx.ids()).size === 20, 15_000, 'first attempts');
        proc.child.kill('SIGKILL');
        await exited(proc.child);
        up = true;
        proc = await spawnServer(env, port);
        const succeeded = async () => (await call('GET', `/v1/event-endpoints/${ep.data.id}/messages?status=succeeded&limit=100`)).data.messages.length === 20;
        await until(succeeded, 30_000, 'all 20 delivered after restart');
        // The restart neither lost nor hurried the wait: no retry came before the 3 s step (−20%).
        for (const id of ids) {
          const times = rx.deliveries.filter((d) => d.data.executionId === id).map((d) => d.at);
          assert.ok(times[1]! - times[0]! >= 2_300, `${id} retried after ${times[1]! - times[0]!} ms`);
        }
        const msgs = (await call('GET', `/v1/event-endpoints/${ep.data.id}/messages?limit=100`)).data.messages;
        assert.equal(msgs.length, 20);
        assert.ok(msgs.every((m: any) => m.status === 'succeeded'));
        assert.equal(new Set(rx.ids()).size, 20, 'retries reuse the webhook-id');
        assert.deepEqual(rx.badSignatures, []);
      } finally {
        proc.child.kill('SIGTERM');
        await exited(proc.child);
        await rx.close();
        await target.cleanup(false);
      }
    });
  });
}
