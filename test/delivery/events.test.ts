import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Dispatcher } from '../../src/delivery/dispatcher.ts';
import type { Config } from '../../src/config.ts';
import { startTestServer, waitDone, type TestServer } from '../helpers/server.ts';
import { STORE_KINDS } from '../helpers/stores.ts';
import { receiver, until, type Receiver } from './receiver.ts';

/** Outbound events (SPEC §4.12, issue 7) against a real receiver that verifies every signature. */
for (const kind of STORE_KINDS) {
  describe(`outbound events (${kind})`, () => {
    let t: TestServer;
    let rx: Receiver;
    let canvasId: string;
    before(async () => {
      rx = await receiver();
      // A short real schedule keeps retries in milliseconds; the 30 s outage test uses the default one on a fake clock.
      t = await startTestServer(kind, { allowPrivateNetworks: true, deliveryRetrySchedule: [0, 0.05, 0.1, 0.2] });
      const wf = await t.api('POST', '/v1/workflows', { body: { title: 'events', tasks: [{ id: 'o', kind: 'output', value: 1 }] } });
      canvasId = wf.body.data.canvasId;
    });
    after(async () => {
      await t.close();
      await rx.close();
    });
    const endpoint = async (body: Record<string, unknown>, r: Receiver = rx) => {
      const res = await t.api('POST', '/v1/event-endpoints', { body: { url: `${r.url}/hook`, ...body } });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      r.secrets.push(res.body.data.secret);
      return res.body.data as { id: string; secret: string };
    };
    const run = async () => {
      const r = await t.api('POST', `/v1/openapi/workflow/${canvasId}/run`, { body: { variables: {} } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      await waitDone(t, r.body.data.executionId);
      return r.body.data.executionId as string;
    };
    const messages = async (id: string, q = '') => (await t.api('GET', `/v1/event-endpoints/${id}/messages${q}`)).body.data.messages as any[];

    it('sends a signed test event of any type on request, whatever the endpoint subscribes to', async () => {
      const rxTest = await receiver();
      try {
        const ep = await endpoint({ eventTypes: ['webhook.silent'] }, rxTest);
        const sent = await t.api('POST', `/v1/event-endpoints/${ep.id}/test`, { body: { eventType: 'node.failed' } });
        assert.equal(sent.status, 202, JSON.stringify(sent.body));
        await until(() => rxTest.deliveries.length === 1, 10_000, 'the test event');
        const d = rxTest.deliveries[0]!;
        assert.equal(d.id, sent.body.data.messageId, 'webhook-id is the message id');
        assert.deepEqual([d.type, d.data.test, d.data.errCode], ['node.failed', true, 'UPSTREAM_ERROR']);
        assert.deepEqual(d.verifiedWith, [0], 'signed with the endpoint secret');
        const listed = await messages(ep.id);
        assert.ok(listed.some((m) => m.id === sent.body.data.messageId && m.eventType === 'node.failed'));
        const byDefault = await t.api('POST', `/v1/event-endpoints/${ep.id}/test`);
        assert.equal(byDefault.body.data.eventType, 'execution.finished');
        assert.equal((await t.api('POST', `/v1/event-endpoints/${ep.id}/test`, { body: { eventType: 'no.such' } })).status, 400);
        assert.equal((await t.api('POST', '/v1/event-endpoints/ep-nope/test')).body.errCode, 'ENDPOINT_NOT_FOUND');
        await t.api('PATCH', `/v1/event-endpoints/${ep.id}`, { body: { enabled: false } });
        assert.equal((await t.api('POST', `/v1/event-endpoints/${ep.id}/test`)).body.errCode, 'ENDPOINT_DISABLED');
      } finally {
        await rxTest.close();
      }
    });

    it('manages endpoints: secret shown once, private URLs refused, unknown types rejected, 404 elsewhere', async () => {
      const ep = await endpoint({ description: 'crm', eventTypes: ['execution.finished'] });
      assert.match(ep.secret, /^whsec_[A-Za-z0-9+/=]{40,}$/);
      const list = await t.api('GET', '/v1/event-endpoints');
      assert.ok(list.body.data.endpoints.some((e: any) => e.id === ep.id));
      assert.ok(!JSON.stringify(list.body).includes(ep.secret), 'the secret never appears in a list');
      const one = await t.api('GET', `/v1/event-endpoints/${ep.id}`);
      assert.equal(one.body.data.secret, undefined);
      const bad = await t.api('POST', '/v1/event-endpoints', { body: { url: 'http://x.invalid/', eventTypes: ['execution.exploded'] } });
      assert.equal(bad.status, 400);
      const notHttp = await t.api('POST', '/v1/event-endpoints', { body: { url: 'ftp://example.com/' } });
      assert.equal(notHttp.body.errCode, 'ENDPOINT_URL_REFUSED');
      const patched = await t.api('PATCH', `/v1/event-endpoints/${ep.id}`, { body: { description: null, ordered: true } });
      assert.equal(patched.body.data.ordered, true);
      assert.equal(patched.body.data.description, undefined);
      assert.equal((await t.api('DELETE', `/v1/event-endpoints/${ep.id}`)).status, 200);
      const gone = await t.api('GET', `/v1/event-endpoints/${ep.id}`);
      assert.equal(gone.status, 404);
      assert.equal(gone.body.errCode, 'ENDPOINT_NOT_FOUND');
      assert.equal((await t.api('POST', '/v1/messages/msg_nope/replay')).body.errCode, 'MESSAGE_NOT_FOUND');
      const types = await t.api('GET', '/v1/event-types');
      assert.ok(types.body.data.eventTypes.some((e: any) => e.type === 'webhook.silent' && e.schema.properties.data));
    });

    it('delivers signed events for a run; a rotation signs with both secrets during its grace period', async () => {
      const ep = await endpoint({});
      const id = await run();
      await until(() => rx.deliveries.some((d) => d.type === 'execution.finished' && d.data.executionId === id), 10_000, 'execution.finished');
      const mine = rx.deliveries.filter((d) => d.data.executionId === id).map((d) => d.type);
      assert.deepEqual(mine, ['execution.started', 'node.finished', 'execution.finished']);
      const finished = rx.deliveries.find((d) => d.type === 'execution.finished' && d.data.executionId === id)!;
      assert.equal(finished.data.canvasId, canvasId);
      assert.equal(finished.data.status, 'finish');

      const rot = await t.api('POST', `/v1/event-endpoints/${ep.id}/rotate-secret`, { body: { graceSeconds: 3600 } });
      assert.equal(rot.status, 200);
      assert.notEqual(rot.body.data.secret, ep.secret);
      const oldIndex = rx.secrets.indexOf(ep.secret);
      rx.secrets.push(rot.body.data.secret);
      const newIndex = rx.secrets.length - 1;
      const id2 = await run();
      await until(() => rx.deliveries.some((d) => d.type === 'execution.finished' && d.data.executionId === id2), 10_000, 'after rotation');
      for (const d of rx.deliveries.filter((x) => x.data.executionId === id2)) {
        assert.ok(d.verifiedWith.includes(oldIndex) && d.verifiedWith.includes(newIndex), 'both secrets verify during the grace period');
      }
      // Without grace, only the new secret signs.
      const rot2 = await t.api('POST', `/v1/event-endpoints/${ep.id}/rotate-secret`, { body: { graceSeconds: 0 } });
      rx.secrets.push(rot2.body.data.secret);
      const id3 = await run();
      await until(() => rx.deliveries.some((d) => d.type === 'execution.finished' && d.data.executionId === id3), 10_000, 'after second rotation');
      for (const d of rx.deliveries.filter((x) => x.data.executionId === id3)) assert.deepEqual(d.verifiedWith, [rx.secrets.length - 1]);
      assert.deepEqual(rx.badSignatures, []);

      const timeline = await t.api('GET', `/v1/openapi/workflow/${id}/timeline`);
      assert.equal(timeline.status, 200);
      const tl = timeline.body.data;
      assert.equal(tl.trigger.type, 'api');
      assert.match(tl.trigger.apiKeyId, /^ak-/);
      const kinds = tl.timeline.map((e: any) => e.type);
      assert.ok(kinds.includes('execution.accepted') && kinds.includes('node.attempt') && kinds.includes('execution.finished'), kinds.join());
      const delivered = tl.timeline.filter((e: any) => e.type === 'event.message' && e.endpointId === ep.id);
      assert.equal(delivered.length, 3);
      assert.ok(delivered.every((m: any) => m.status === 'succeeded' && m.deliveries[0].httpStatus === 200));
      await t.api('DELETE', `/v1/event-endpoints/${ep.id}`);
    });

    it('a run\'s callbackUrl hears how that run ended, signed with the secret in the answer; private URLs are refused', async () => {
      const cb = await receiver({ holdUntilSecret: true });
      try {
        const r = await t.api('POST', `/v1/openapi/workflow/${canvasId}/run`, { body: { variables: {}, callbackUrl: `${cb.url}/done` }, headers: { 'idempotency-key': 'cb-1' } });
        assert.equal(r.status, 200, JSON.stringify(r.body));
        assert.match(r.body.data.callback.secret, /^whsec_/);
        cb.secrets.push(r.body.data.callback.secret);
        const again = await t.api('POST', `/v1/openapi/workflow/${canvasId}/run`, { body: { variables: {}, callbackUrl: `${cb.url}/done` }, headers: { 'idempotency-key': 'cb-1' } });
        assert.deepEqual(again.body.data.callback, r.body.data.callback, 'a replayed request answers with the same callback');
        const other = await run();
        await until(() => cb.deliveries.length >= 1, 10_000, 'callback');
        await new Promise((res) => setTimeout(res, 200));
        assert.deepEqual(cb.deliveries.map((d) => [d.type, d.data.executionId]), [['execution.finished', r.body.data.executionId]]);
        assert.ok(!cb.deliveries.some((d) => d.data.executionId === other), 'only its own run');
        assert.deepEqual(cb.badSignatures, []);
        const list = await t.api('GET', '/v1/event-endpoints');
        assert.ok(!list.body.data.endpoints.some((e: any) => e.id === r.body.data.callback.endpointId), 'callbacks are not workspace endpoints');
      } finally {
        await cb.close();
      }
    });

    it('an ordered endpoint that fails event 3 twice gets 4 and 5 only after 3, in order', async () => {
      const rx2 = await receiver();
      try {
        const ep = await endpoint({ ordered: true, eventTypes: ['execution.finished'] }, rx2);
        const failures = new Map<string, number>();
        let third: string | undefined;
        rx2.answer = (d, res) => {
          const seen = new Set(rx2.deliveries.map((x) => x.id));
          if (!third && seen.size === 3) third = d.id;
          if (d.id === third && (failures.get(d.id) ?? 0) < 2) {
            failures.set(d.id, (failures.get(d.id) ?? 0) + 1);
            return res.writeHead(500).end('not yet');
          }
          res.writeHead(204).end();
        };
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) ids.push(await run());
        await until(() => new Set(rx2.deliveries.map((d) => d.data.executionId)).size === 5 && rx2.deliveries.length >= 7, 15_000, 'five ordered events');
        await new Promise((r) => setTimeout(r, 300));
        const order = rx2.deliveries.map((d) => d.data.executionId as string);
        // Event 3 arrives three times (fail, fail, succeed) before 4 and 5; nothing overtakes it.
        assert.deepEqual(order, [ids[0], ids[1], ids[2], ids[2], ids[2], ids[3], ids[4]]);
        const msgs = await messages(ep.id);
        const m3 = msgs.find((m) => m.payload.data.executionId === ids[2]);
        assert.deepEqual(m3.attempts.map((a: any) => a.httpStatus), [500, 500, 204]);
        assert.equal(m3.attempts[0].response, 'not yet');
        assert.deepEqual(rx2.badSignatures, []);
        await t.api('DELETE', `/v1/event-endpoints/${ep.id}`);
      } finally {
        await rx2.close();
      }
    });

    it('410 Gone disables the endpoint and tells the others; re-enable + recover delivers what it missed; replay resends with the same id', async () => {
      const gone = await receiver();
      const watcher = await receiver();
      try {
        const ep = await endpoint({ eventTypes: ['execution.finished'] }, gone);
        const w = await endpoint({ eventTypes: ['endpoint.disabled'] }, watcher);
        let alive = false;
        gone.answer = (_d, res) => (alive ? res.writeHead(200).end() : res.writeHead(410).end('gone'));
        const first = await run();
        await until(async () => (await t.api('GET', `/v1/event-endpoints/${ep.id}`)).body.data.enabled === false, 10_000, 'disabled');
        const after = await t.api('GET', `/v1/event-endpoints/${ep.id}`);
        assert.match(after.body.data.disabledReason, /410/);
        await until(() => watcher.deliveries.some((d) => d.type === 'endpoint.disabled'), 10_000, 'endpoint.disabled');
        assert.equal(watcher.deliveries.find((d) => d.type === 'endpoint.disabled')!.data.endpointId, ep.id);
        // While disabled, events are kept for it as skipped, not sent.
        const missed = await run();
        await new Promise((r) => setTimeout(r, 200));
        assert.equal(gone.deliveries.filter((d) => d.data.executionId === missed).length, 0);
        assert.equal((await t.api('POST', `/v1/event-endpoints/${ep.id}/recover`, { body: { since: new Date(0).toISOString() } })).body.errCode, 'ENDPOINT_DISABLED');

        alive = true;
        await t.api('PATCH', `/v1/event-endpoints/${ep.id}`, { body: { enabled: true } });
        const rec = await t.api('POST', `/v1/event-endpoints/${ep.id}/recover`, { body: { since: new Date(Date.now() - 60_000).toISOString() } });
        assert.equal(rec.body.data.recovered, 2, JSON.stringify((await messages(ep.id)).map((m) => [m.status, m.lastError, m.attempts.length])));
        await until(() => [first, missed].every((x) => gone.deliveries.some((d) => d.data.executionId === x && d.verifiedWith.length)), 10_000, 'recovered');
        // The attempt is recorded once the receiver's answer is back: wait for it, bounded.
        let ok: any[] = [];
        await until(async () => (ok = await messages(ep.id, '?status=succeeded')).length === 2, 10_000, 'recorded as succeeded');

        const before = gone.deliveries.length;
        const replay = await t.api('POST', `/v1/messages/${ok[0].id}/replay`);
        assert.equal(replay.body.data.replayed, true);
        await until(() => gone.deliveries.length === before + 1, 10_000, 'replayed');
        assert.equal(gone.deliveries.at(-1)!.id, ok[0].id, 'a replay keeps the webhook-id');
        assert.deepEqual([...gone.badSignatures, ...watcher.badSignatures], []);
        await t.api('DELETE', `/v1/event-endpoints/${ep.id}`);
        await t.api('DELETE', `/v1/event-endpoints/${w.id}`);
      } finally {
        await gone.close();
        await watcher.close();
      }
    });

    it('webhook.received for an accepted call; webhook.silent once per silence', async () => {
      const rx3 = await receiver();
      try {
        const wh = await t.api('POST', '/v1/webhook/enable', { body: { canvasId, expectedEvery: 1 } });
        assert.equal(wh.status, 200, JSON.stringify(wh.body));
        const ep = await endpoint({ eventTypes: ['webhook.received', 'webhook.silent'] }, rx3);
        const call = await fetch(wh.body.data.webhookUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"variables":{}}' });
        const executionId = ((await call.json()) as any).data.executionId;
        await until(() => rx3.deliveries.some((d) => d.type === 'webhook.received'), 10_000, 'webhook.received');
        assert.equal(rx3.deliveries.find((d) => d.type === 'webhook.received')!.data.executionId, executionId);
        await new Promise((r) => setTimeout(r, 1100));
        assert.equal(await t.server.dispatcher!.checkSilence(), 1);
        assert.equal(await t.server.dispatcher!.checkSilence(), 0, 'one silence, one event');
        await until(() => rx3.deliveries.some((d) => d.type === 'webhook.silent'), 10_000, 'webhook.silent');
        const silent = rx3.deliveries.find((d) => d.type === 'webhook.silent')!;
        assert.equal(silent.data.webhookId, wh.body.data.webhookId);
        assert.equal(silent.data.expectedEvery, 1);
        await t.api('DELETE', `/v1/event-endpoints/${ep.id}`);
      } finally {
        await rx3.close();
      }
    });

    it('a receiver down for 30 s while 100 events are produced gets all 100 after it returns (default schedule, fake clock)', async () => {
      const down = await receiver();
      // This test drives its own dispatcher on a fake clock; the server's stops so the two do not race.
      await t.server.dispatcher!.stop();
      let offset = 0;
      const clock = () => Date.now() + offset;
      const config = { ...t.server.config, deliveryRetrySchedule: [0, 5, 300, 1800, 7200, 18000, 36000, 36000], deliveryConcurrency: 32, endpointDisableAfterMs: 60_000 };
      const d = new Dispatcher({ store: t.server.store, config, logger: t.server.app.log as any, now: clock });
      const dead = await receiver();
      try {
        const ep = await endpoint({ eventTypes: ['execution.finished'] }, down);
        // A second endpoint never recovers: failing for longer than the limit (60 s here) disables it.
        const deadEp = await endpoint({ eventTypes: ['execution.finished'] }, dead);
        dead.answer = (_x, res) => res.writeHead(503).end();
        down.answer = (_x, res) => (offset < 30_000 ? res.writeHead(503).end('maintenance') : res.writeHead(200).end());
        const runs = await Promise.all(Array.from({ length: 100 }, () => t.api('POST', `/v1/openapi/workflow/${canvasId}/run`, { body: {} })));
        const ids = runs.map((r) => r.body.data.executionId as string);
        for (const id of ids) await waitDone(t, id);
        const drain = async () => {
          for (let i = 0; i < 50; i++) {
            const n = await d.tick();
            await d.idle();
            if (n === 0) return;
          }
        };
        // Walk the clock through the outage and past the 5 min step of the schedule, 5 s at a time.
        for (offset = 0; offset <= 400_000; offset += 5_000) await drain();
        const got = new Set(down.deliveries.map((x) => x.data.executionId));
        const msgs = await messages(ep.id, '?limit=100');
        assert.equal(msgs.length, 100);
        assert.ok(msgs.every((m) => m.status === 'succeeded'), JSON.stringify(msgs.filter((m) => m.status !== 'succeeded').slice(0, 2)));
        for (const id of ids) assert.ok(got.has(id), `event for ${id} delivered`);
        // Duplicates, if any, share a webhook-id: 100 distinct ids for 100 events.
        assert.equal(new Set(down.ids()).size, 100);
        // Each failed during the outage (at 0 s and ~5 s), then succeeded on the 5-minute step.
        const m = msgs[0];
        assert.deepEqual(m.attempts.map((a: any) => a.httpStatus), [503, 503, 200]);
        assert.deepEqual(down.badSignatures, []);

        const deadView = (await t.api('GET', `/v1/event-endpoints/${deadEp.id}`)).body.data;
        assert.equal(deadView.enabled, false);
        assert.match(deadView.disabledReason, /failing for/);
        const left = await messages(deadEp.id, '?limit=100');
        assert.ok(left.every((m) => m.status === 'skipped' || m.status === 'failed'), 'nothing is sent to a disabled endpoint');
        assert.ok(left.some((m) => m.status === 'skipped'), 'what it missed is kept for recover');
      } finally {
        await d.stop();
        await down.close();
        await dead.close();
      }
    });

    it('a dispatcher that stops gives back the messages it claimed ahead, unspent, and a new one delivers them', async () => {
      await t.server.dispatcher!.stop();
      const slow = await receiver();
      let open!: () => void;
      const gate = new Promise<void>((r) => (open = r));
      slow.answer = (_d, res) => void gate.then(() => res.writeHead(200).end());
      const config = { ...t.server.config, deliveryConcurrency: 1 };
      const first = new Dispatcher({ store: t.server.store, config, logger: t.server.app.log as any });
      const second = new Dispatcher({ store: t.server.store, config, logger: t.server.app.log as any });
      try {
        const ep = await endpoint({}, slow);
        for (let i = 0; i < 3; i++) assert.equal((await t.api('POST', `/v1/event-endpoints/${ep.id}/test`)).status, 202);
        // One slot: the turn claims two (one sends, one waits for the slot); the third stays queued.
        assert.equal(await first.tick(), 2);
        await until(() => slow.deliveries.length === 1, 5_000, 'the first delivery in flight');
        await first.stop(50);
        const held = await messages(ep.id);
        assert.deepEqual(held.map((m) => m.status), ['pending', 'pending', 'pending'], 'nothing stays leased to a stopped dispatcher');
        assert.ok(held.every((m) => m.attempts.length === 0), 'giving back is not a failed attempt');
        open();
        for (let i = 0; i < 20 && slow.deliveries.length < 4; i++) {
          await second.tick();
          await second.idle();
        }
        assert.deepEqual(new Set(slow.ids()).size, 3, 'every message delivered; the one cut off by the stop again, with the same webhook-id');
        assert.ok((await messages(ep.id)).every((m) => m.status === 'succeeded'));
      } finally {
        open();
        await second.stop();
        await slow.close();
      }
    });
  });
}

for (const kind of STORE_KINDS) {
  describe(`wake-ups, not polling, move events (${kind})`, () => {
    it('with a one-minute poll, a run\'s events, a test send and a replay still arrive at once', async () => {
      const rx = await receiver();
      const t = await startTestServer(kind, { allowPrivateNetworks: true, pollMs: 60_000 });
      try {
        const ep = await t.api('POST', '/v1/event-endpoints', { body: { url: `${rx.url}/hook`, eventTypes: ['execution.finished'] } });
        rx.secrets.push(ep.body.data.secret);
        const wf = await t.api('POST', '/v1/workflows', { body: { title: 'woken', tasks: [{ id: 'o', kind: 'output', value: 1 }] } });
        // The worker and the dispatcher are idle in a 60 s sleep: only the commit's wake-up can move them.
        await new Promise((r) => setTimeout(r, 200));
        const run = await t.api('POST', `/v1/openapi/workflow/${wf.body.data.canvasId}/run`, { body: { variables: {} } });
        assert.equal(run.status, 200);
        await until(() => rx.deliveries.length === 1, 10_000, 'execution.finished woken by the worker\'s commit');
        assert.equal(rx.deliveries[0]!.data.executionId, run.body.data.executionId);
        assert.equal((await t.api('POST', `/v1/event-endpoints/${ep.body.data.id}/test`)).status, 202);
        await until(() => rx.deliveries.length === 2, 10_000, 'a test send');
        await new Promise((r) => setTimeout(r, 200));
        assert.equal((await t.api('POST', `/v1/messages/${rx.deliveries[0]!.id}/replay`)).body.data.replayed, true);
        await until(() => rx.deliveries.length === 3, 10_000, 'a replay');
        assert.equal(rx.deliveries[2]!.id, rx.deliveries[0]!.id, 'a replay keeps its webhook-id');
        assert.deepEqual(rx.badSignatures, []);
      } finally {
        await t.close();
        await rx.close();
      }
    });
  });
}

/**
 * A SQLite server with `config`, a receiver answering with `answer`, and one endpoint of that
 * receiver's; both are closed after `fn`.
 */
async function withEndpoint(config: Partial<Config>, answer: Receiver['answer'], fn: (t: TestServer, rx: Receiver, endpointId: string) => Promise<void>): Promise<void> {
  const rx = await receiver();
  rx.answer = answer;
  const t = await startTestServer('sqlite', { allowPrivateNetworks: true, ...config });
  try {
    const ep = await t.api('POST', '/v1/event-endpoints', { body: { url: `${rx.url}/hook` } });
    rx.secrets.push(ep.body.data.secret);
    await fn(t, rx, ep.body.data.id);
  } finally {
    await t.close();
    await rx.close();
  }
}

describe('a receiver that never answers', () => {
  it('the delivery is cut at the delivery timeout, recorded as failed with why, and scheduled again', () =>
    withEndpoint({ deliveryTimeoutMs: 300, deliveryRetrySchedule: [0, 60] }, () => undefined, async (t, rx, ep) => {
      const sent = await t.api('POST', `/v1/event-endpoints/${ep}/test`);
      assert.equal(sent.status, 202);
      let m: any;
      await until(async () => {
        m = (await t.api('GET', `/v1/event-endpoints/${ep}/messages`)).body.data.messages[0];
        return m?.attempts.length === 1;
      }, 10_000, 'the timed-out attempt');
      assert.equal(rx.deliveries.length, 1, 'it was sent');
      assert.equal(m.status, 'pending', 'and will be tried again');
      assert.equal(m.attempts[0].outcome, 'failed');
      assert.match(m.attempts[0].error, /no response within 300 ms/);
      assert.ok(m.attempts[0].latencyMs >= 290 && m.attempts[0].latencyMs < 5_000, String(m.attempts[0].latencyMs));
    }));
});

describe('a slow receiver', () => {
  // 300 ms an answer against a 1.5 s timeout: slow (the deep queue is for means under 1/8 of it).
  it('gets no deeper queue of claimed messages than two slots\' worth, so none waits past its lease', () =>
    withEndpoint({ deliveryTimeoutMs: 1500, deliveryConcurrency: 2 }, (_d, res) => void setTimeout(() => res.writeHead(200).end('ok'), 300), async (t, rx, ep) => {
      for (let i = 0; i < 12; i++) assert.equal((await t.api('POST', `/v1/event-endpoints/${ep}/test`)).status, 202);
      let most = 0;
      await until(async () => {
        const listed = (await t.api('GET', `/v1/event-endpoints/${ep}/messages?limit=100`)).body.data.messages as { status: string }[];
        most = Math.max(most, listed.filter((m) => m.status === 'delivering').length);
        return listed.filter((m) => m.status === 'succeeded').length === 12;
      }, 20_000, 'all twelve delivered');
      assert.ok(most > 0, 'claims were seen');
      assert.ok(most <= 4, `at most two slots' worth claimed at once, saw ${most}`);
      assert.equal(new Set(rx.ids()).size, 12);
    }));
});

describe('a claimed message whose lease ran short while it waited for a slot', () => {
  it('goes back to the queue at once, its try uncounted, and is sent by a later turn', () => {
    const held: (() => void)[] = [];
    return withEndpoint({ deliveryTimeoutMs: 1000, deliveryConcurrency: 1 }, (_d, res) => void held.push(() => res.writeHead(200).end('ok')), async (t, rx, ep) => {
      // This test drives its own dispatcher on a fake clock; the server's stops so the two do not race.
      await t.server.dispatcher!.stop();
      let offset = 0;
      const d = new Dispatcher({ store: t.server.store, config: t.server.config, logger: t.server.app.log as any, now: () => Date.now() + offset });
      try {
        const ids: string[] = [];
        for (let i = 0; i < 2; i++) ids.push((await t.api('POST', `/v1/event-endpoints/${ep}/test`)).body.data.messageId);
        assert.equal(await d.tick(), 2, 'one slot, two slots\' worth claimed: one sent, one waiting');
        await until(() => held.length === 1, 5_000, 'the first delivery');
        // The lease is two timeouts + 5 s (7 s); the waiting message now has less than a timeout of it left.
        offset = 6_500;
        held[0]!();
        await d.idle();
        const view = async () => (await t.api('GET', `/v1/event-endpoints/${ep}/messages`)).body.data.messages as { id: string; status: string; attempts: unknown[] }[];
        const waited = (await view()).find((m) => m.id === ids[1])!;
        assert.deepEqual([waited.status, waited.attempts.length, rx.deliveries.length], ['pending', 0, 1], 'back in the queue, not sent, no attempt recorded');
        assert.equal(await d.tick(), 1);
        await until(() => held.length === 2, 5_000, 'the second delivery');
        held[1]!();
        await d.idle();
        const after = (await view()).find((m) => m.id === ids[1])!;
        assert.deepEqual([after.status, after.attempts.length], ['succeeded', 1]);
      } finally {
        await d.stop();
      }
    });
  });
});

describe('outbound events refuse private networks by default', () => {
  it('endpoint URLs and callbackUrls resolving to loopback or private addresses are refused', async () => {
    const t = await startTestServer('sqlite');
    try {
      for (const url of ['http://127.0.0.1:9/x', 'http://localhost:9/x', 'http://10.1.2.3/x', 'http://[::1]:9/x', 'http://[::ffff:0:7f00:1]:9/x', 'http://[2002:a00:1::1]/x', 'http://[64:ff9b::c0a8:101]/x']) {
        const r = await t.api('POST', '/v1/event-endpoints', { body: { url } });
        assert.equal(r.status, 400, url);
        assert.equal(r.body.errCode, 'ENDPOINT_URL_REFUSED', url);
      }
      const wf = await t.api('POST', '/v1/workflows', { body: { title: 'x', tasks: [{ id: 'o', kind: 'output', value: 1 }] } });
      const run = await t.api('POST', `/v1/openapi/workflow/${wf.body.data.canvasId}/run`, { body: { callbackUrl: 'http://127.0.0.1:9/cb' } });
      assert.equal(run.body.errCode, 'ENDPOINT_URL_REFUSED');
      const extra = await t.api('POST', `/v1/openapi/workflow/${wf.body.data.canvasId}/run`, { body: { callbackUrl: 5 } });
      assert.equal(extra.body.errCode, 'INVALID_REQUEST_BODY');
    } finally {
      await t.close();
    }
  });
});
