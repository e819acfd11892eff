import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fakeServer, json, type FakeServer } from '../helpers/fakes.ts';
import { startTestServer, waitDone, type TestServer } from '../helpers/server.ts';
import { STORE_KINDS } from '../helpers/stores.ts';

for (const kind of STORE_KINDS) {
  describe(`steps that survive the real world (${kind})`, () => {
    let t: TestServer;
    let api: FakeServer;
    const state = { busy: 1, downUntil: 0, shapeV2: false, broken: true, stepOneCalls: 0 };
    before(async () => {
      api = await fakeServer((req, _b, res) => {
        const url = req.url!;
        if (url === '/busy') return state.busy-- > 0 ? json(res, 429, {}, { 'retry-after': '2' }) : json(res, 200, { ok: true });
        if (url === '/hang') return; // never answers
        if (url === '/flapping') return Date.now() < state.downUntil ? json(res, 503, {}) : json(res, 200, { ok: true });
        if (url === '/user') return json(res, 200, state.shapeV2 ? { id: 7 } : { id: 7, name: 'Ada' });
        if (url === '/step-one') {
          state.stepOneCalls++;
          return json(res, 200, { token: 'abc' });
        }
        if (url === '/step-two') return state.broken ? json(res, 400, { error: 'bad' }) : json(res, 200, { done: true });
        json(res, 404, {});
      });
      t = await startTestServer(kind, { allowPrivateNetworks: true });
    });
    after(async () => {
      await t.close();
      await api.close();
    });

    const runWorkflow = async (def: Record<string, unknown>, wait = true) => {
      const wf = await t.api('POST', '/v1/workflows', { body: def });
      assert.equal(wf.status, 201, JSON.stringify(wf.body));
      const run = await t.api('POST', `/v1/openapi/workflow/${wf.body.data.canvasId}/run`, { body: {} });
      return { canvasId: wf.body.data.canvasId as string, id: run.body.data.executionId as string, done: wait ? await waitDone(t, run.body.data.executionId) : undefined };
    };
    const call = (id: string, path: string, extra: Record<string, unknown> = {}) => ({ id, kind: 'http', request: { url: `${api.url}${path}` }, ...extra });

    it('honours Retry-After: the next attempt is not before it, and the delay is shown', async () => {
      const { done } = await runWorkflow({ title: 'busy', tasks: [call('c', '/busy', { retry: { initialDelayMs: 10 } })] });
      assert.equal(done.status, 'finish');
      const [a1, a2] = done.nodeExecutions[0].attempts;
      assert.equal(a1.httpStatus, 429);
      assert.ok(a1.retryDelayMs >= 2000, JSON.stringify(a1));
      assert.ok(Date.parse(a2.startTime) >= Date.parse(a1.nextAttemptAt));
    });

    it('times out a hanging call, records each attempt, and fails with NODE_TIMEOUT', async () => {
      const { done } = await runWorkflow({ title: 'hang', tasks: [call('c', '/hang', { timeoutMs: 200, retry: { maxAttempts: 2, initialDelayMs: 10 } })] });
      assert.equal(done.status, 'failed');
      assert.equal(done.errCode, 'NODE_TIMEOUT');
      assert.deepEqual(done.nodeExecutions[0].attempts.map((a: { errCode: string }) => a.errCode), ['NODE_TIMEOUT', 'NODE_TIMEOUT']);
    });

    it('rides out a downstream that is down for a while, losing nothing', async () => {
      state.downUntil = Date.now() + 1500;
      const { done } = await runWorkflow({ title: 'flap', retry: { maxAttempts: 10, initialDelayMs: 100, factor: 2, maxDelayMs: 1000 }, tasks: [call('c', '/flapping')] });
      assert.equal(done.status, 'finish');
      assert.ok(done.nodeExecutions[0].attempts.length >= 2);
    });

    it('fails on a broken response contract (expect), naming the field, without retrying', async () => {
      state.shapeV2 = true;
      const { done } = await runWorkflow({
        title: 'contract',
        tasks: [call('c', '/user', { expect: { type: 'object', required: ['id', 'name'], properties: { id: { type: 'number' }, name: { type: 'string' } } } })],
      });
      assert.equal(done.status, 'failed');
      assert.equal(done.errCode, 'RESPONSE_CONTRACT_VIOLATION');
      assert.match(done.errMsg, /body\.name is required/);
      assert.equal(done.nodeExecutions[0].attempts.length, 1);
    });

    it('flags contract drift without expect when a field disappears', async () => {
      state.shapeV2 = false;
      const def = { title: 'drift', tasks: [call('c', '/user')] };
      const wf = await t.api('POST', '/v1/workflows', { body: def });
      const run = async () => waitDone(t, (await t.api('POST', `/v1/openapi/workflow/${wf.body.data.canvasId}/run`, { body: {} })).body.data.executionId);
      const first = await run();
      assert.equal(first.nodeExecutions[0].drift, undefined);
      state.shapeV2 = true;
      const second = await run();
      assert.equal(second.status, 'finish', 'drift is flagged, not fatal');
      assert.deepEqual(second.nodeExecutions[0].drift, { missing: ['body.name'], changed: [] });
      const metrics = await t.api('GET', '/metrics', { key: null });
      assert.match(metrics.body, /flowgate_contract_drift_total [1-9]/);
    });

    it('replays a permanently failed run once fixed, without calling finished nodes again; replay is idempotent', async () => {
      state.broken = true;
      const before = state.stepOneCalls;
      const { canvasId, id, done } = await runWorkflow({
        title: 'replay',
        retry: { maxAttempts: 1 },
        tasks: [call('one', '/step-one'), call('two', '/step-two', { dependentTasks: ['one'] })],
      });
      assert.equal(done.status, 'failed');
      assert.equal(state.stepOneCalls - before, 1);
      const failed = await t.api('GET', `/v1/openapi/workflow/${canvasId}/executions?status=failed`);
      assert.deepEqual(failed.body.data.records.map((r: { executionId: string }) => r.executionId), [id]);

      state.broken = false;
      const r1 = await t.api('POST', `/v1/openapi/workflow/${id}/retry`);
      assert.equal(r1.body.data.retried, true);
      const again = await waitDone(t, id);
      assert.equal(again.status, 'finish');
      assert.equal(state.stepOneCalls - before, 1, 'the finished node was not called again');
      const r2 = await t.api('POST', `/v1/openapi/workflow/${id}/retry`);
      assert.equal(r2.body.data.retried, false);
      assert.equal(r2.body.data.status, 'finish');
    });

    it('replays failed runs in bulk by workflow', async () => {
      state.broken = true;
      const wf = await t.api('POST', '/v1/workflows', { body: { title: 'bulk', retry: { maxAttempts: 1 }, tasks: [call('two', '/step-two')] } });
      const ids: string[] = [];
      for (let i = 0; i < 2; i++) {
        const run = await t.api('POST', `/v1/openapi/workflow/${wf.body.data.canvasId}/run`, { body: {} });
        ids.push(run.body.data.executionId);
        assert.equal((await waitDone(t, run.body.data.executionId)).status, 'failed');
      }
      state.broken = false;
      const bulk = await t.api('POST', '/v1/executions/retry', { body: { status: 'failed', canvasId: wf.body.data.canvasId } });
      assert.equal(bulk.body.data.retried, 2);
      for (const id of ids) assert.equal((await waitDone(t, id)).status, 'finish');
    });
  });
}

describe('circuit breaker per downstream host', () => {
  it('stops calling a failing host, keeps nodes waiting without spending their budget, and resumes on recovery', async () => {
    let healthy = false;
    let calls = 0;
    const api = await fakeServer((_req, _b, res) => {
      calls++;
      return healthy ? json(res, 200, { ok: true }) : json(res, 503, {});
    });
    const t = await startTestServer('sqlite', { allowPrivateNetworks: true, breakerThreshold: 3, breakerCoolOffMs: 300 });
    try {
      const wf = await t.api('POST', '/v1/workflows', {
        body: { title: 'breaker', tasks: [{ id: 'c', kind: 'http', request: { url: `${api.url}/x` }, retry: { maxAttempts: 20, initialDelayMs: 10, factor: 1 } }] },
      });
      const run = await t.api('POST', `/v1/openapi/workflow/${wf.body.data.canvasId}/run`, { body: {} });
      const id = run.body.data.executionId;
      // Without a breaker, 20 attempts 10 ms apart would be spent in well under a second.
      await new Promise((r) => setTimeout(r, 1000));
      const mid = await t.api('GET', `/v1/openapi/workflow/${id}/status`);
      assert.equal(mid.body.data.status, 'executing');
      const node = mid.body.data.nodeExecutions[0];
      assert.ok(node.attempts.length < 10, `attempts while open: ${node.attempts.length}`);
      // Every call is an attempt and deferrals are not; one attempt may be between its claim and its
      // call, or between its call and its record, at the moment of reading.
      const ended = node.attempts.filter((a: { endTime?: string }) => a.endTime).length;
      assert.ok(ended <= calls && calls <= node.attempts.length, `calls ${calls}, attempts ${node.attempts.length}, ended ${ended}`);
      const metrics = await t.api('GET', '/metrics', { key: null });
      assert.match(metrics.body, /flowgate_circuit_open\{host="127\.0\.0\.1:\d+"\} 1/);
      // While the circuit is open the node says why it waits, for which host, and until when.
      let waiting: { reason: string; host?: string; until: string } | undefined;
      for (let i = 0; i < 100 && waiting?.reason !== 'circuit'; i++) {
        const s = await t.api('GET', `/v1/openapi/workflow/${id}/status`);
        waiting = s.body.data.nodeExecutions[0].waitingFor;
        if (waiting?.reason !== 'circuit') await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(waiting?.reason, 'circuit', JSON.stringify(waiting));
      assert.equal(waiting?.host, new URL(api.url).host);
      assert.ok(Date.parse(waiting!.until) > 0);
      const timeline = await t.api('GET', `/v1/openapi/workflow/${id}/timeline`);
      assert.ok(Array.isArray(timeline.body.data.waiting), 'the timeline says what the run waits on');
      healthy = true;
      const done = await waitDone(t, id);
      assert.equal(done.status, 'finish');
    } finally {
      await t.close();
      await api.close();
    }
  });
});
