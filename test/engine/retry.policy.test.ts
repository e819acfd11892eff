import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { nextRetryDelay } from '../../src/engine/retry.ts';
import { advance } from '../../src/engine/advance.ts';
import type { AdvanceNode } from '../../src/store/store.ts';
import { fakeServer, json, type FakeServer } from '../helpers/fakes.ts';
import { startTestServer, waitDone, type TestServer } from '../helpers/server.ts';

describe('retry policy', () => {
  it('uses capped exponential backoff with full jitter, Retry-After as a floor', () => {
    const max = () => 0.999999;
    assert.equal(nextRetryDelay(undefined, 1, undefined, max), 999);
    assert.equal(nextRetryDelay(undefined, 2, undefined, max), 1999);
    assert.equal(nextRetryDelay(undefined, 3, undefined, max), undefined, 'default budget is 3 attempts');
    assert.equal(nextRetryDelay({ maxAttempts: 10, maxDelayMs: 5000 }, 9, undefined, max), 4999);
    assert.equal(nextRetryDelay(undefined, 1, undefined, () => 0), 0);
    assert.equal(nextRetryDelay(undefined, 1, 2000, () => 0), 2000);
    assert.equal(nextRetryDelay(undefined, 1, 99_999_999, () => 0), 3_600_000);
  });
});

describe('advance (what runs next)', () => {
  const n = (nodeId: string, status: AdvanceNode['status'], deps: string[] = [], kind = 'transform', output?: unknown): AdvanceNode => ({ nodeId, kind, deps, status, runnable: false, output });
  it('releases a join only when all dependencies ended', () => {
    assert.deepEqual(advance([n('a', 'finish'), n('b', 'executing'), n('j', 'init', ['a', 'b'])]).runnable, []);
    assert.deepEqual(advance([n('a', 'finish'), n('b', 'finish'), n('j', 'init', ['a', 'b'])]).runnable, ['j']);
  });
  it('skips behind a false condition, transitively, but output nodes join live branches', () => {
    const r = advance([n('c', 'finish', [], 'condition', false), n('x', 'init', ['c']), n('y', 'init', ['x']), n('z', 'finish'), n('out', 'init', ['y', 'z'], 'output')]);
    assert.deepEqual(r.skipped, ['x', 'y']);
    assert.deepEqual(r.runnable, ['out']);
    const allDead = advance([n('c', 'finish', [], 'condition', false), n('out', 'init', ['c'], 'output')]);
    assert.deepEqual(allDead.skipped, ['out']);
    assert.deepEqual(allDead.outcome, { status: 'finish' });
  });
  it('fails the run when a node failed', () => {
    const r = advance([{ ...n('a', 'failed'), errCode: 'UPSTREAM_ERROR', errMsg: '503' }, n('b', 'init', ['a'])]);
    assert.equal(r.outcome?.status, 'failed');
  });
});

describe('retries through the engine', () => {
  let api: FakeServer;
  let t: TestServer;
  let failuresLeft = 2;
  before(async () => {
    api = await fakeServer((req, _b, res) => {
      if (req.url === '/flaky' && failuresLeft-- > 0) return json(res, 503, { error: 'busy' });
      if (req.url === '/reject') return json(res, 400, { error: 'bad' });
      json(res, 200, { ok: true });
    });
    t = await startTestServer('sqlite', { allowPrivateNetworks: true });
  });
  after(async () => {
    await t.close();
    await api.close();
  });

  const runOne = async (path: string) => {
    const wf = await t.api('POST', '/v1/workflows', {
      body: { title: path, tasks: [{ id: 'call', kind: 'http', request: { url: `${api.url}${path}` }, retry: { maxAttempts: 4, initialDelayMs: 20 } }] },
    });
    const run = await t.api('POST', `/v1/openapi/workflow/${wf.body.data.canvasId}/run`, { body: {} });
    return waitDone(t, run.body.data.executionId);
  };

  it('retries a 503 until it succeeds, with the same Idempotency-Key, recording every attempt', async () => {
    const done = await runOne('/flaky');
    assert.equal(done.status, 'finish');
    const attempts = done.nodeExecutions[0].attempts;
    assert.deepEqual(attempts.map((a: { status: string; httpStatus?: number }) => [a.status, a.httpStatus]), [
      ['failed', 503],
      ['failed', 503],
      ['finish', 200],
    ]);
    const keys = new Set(api.requests.filter((r) => r.url === '/flaky').map((r) => r.headers['idempotency-key']));
    assert.equal(keys.size, 1);
  });

  it('fails at once on a 400', async () => {
    const done = await runOne('/reject');
    assert.equal(done.status, 'failed');
    assert.equal(done.errCode, 'UPSTREAM_ERROR');
    assert.equal(done.nodeExecutions[0].attempts.length, 1);
  });
});
