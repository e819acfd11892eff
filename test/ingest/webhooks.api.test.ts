import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { startTestServer, waitDone, type TestServer } from '../helpers/server.ts';
import { STORE_KINDS } from '../helpers/stores.ts';

const WORKFLOW = {
  title: 'Inbound',
  variables: [
    { name: 'feedback', variableType: 'string' },
    { name: 'payload', variableType: 'json' },
  ],
  tasks: [{ id: 'out', kind: 'output', value: { feedback: '{{ variables.feedback }}', payload: '{{ variables.payload }}' } }],
};
const SECRET = 'whsec_' + Buffer.from('a-very-secret-signing-key').toString('base64');

for (const kind of STORE_KINDS) {
  describe(`webhook triggers (${kind})`, () => {
    let t: TestServer;
    before(async () => {
      t = await startTestServer(kind);
    });
    after(() => t.close());

    const newWorkflow = async () => (await t.api('POST', '/v1/workflows', { body: WORKFLOW })).body.data.canvasId as string;
    const enable = async (canvasId: string, extra: Record<string, unknown> = {}) => {
      const r = await t.api('POST', '/v1/webhook/enable', { body: { canvasId, ...extra } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.data as { webhookId: string; webhookUrl: string };
    };
    const call = (webhookId: string, opts: { body?: unknown; raw?: string; headers?: Record<string, string> } = {}) =>
      t.api('POST', `/v1/openapi/webhook/${webhookId}/run`, { key: null, body: opts.body, raw: opts.raw, headers: opts.headers });
    const history = async (webhookId: string) => (await t.api('GET', `/v1/webhook/history?webhookId=${webhookId}&pageSize=100`)).body.data;
    /**
     * Rejected calls are recorded after their answer is sent: poll (bounded, 5 s: the full suite loads the machine) until `done` holds.
     * The page and its total are two reads (on PostgreSQL, two connections): wait on the records, not on the total.
     */
    const historyUntil = async (webhookId: string, done: (h: { total: number; records: any[] }) => boolean) => {
      let h = await history(webhookId);
      for (let i = 0; i < 200 && !done(h); i++) h = await new Promise((r) => setTimeout(r, 25)).then(() => history(webhookId));
      return h;
    };

    it('enables once per workflow, triggers without a key, commits before answering, and records history', async () => {
      const canvasId = await newWorkflow();
      const wh = await enable(canvasId);
      assert.match(wh.webhookId, /^wh_[A-Za-z0-9]{32}$/);
      assert.equal(wh.webhookUrl, `${t.url}/v1/openapi/webhook/${wh.webhookId}/run`);
      assert.equal((await enable(canvasId)).webhookId, wh.webhookId, 'enable is idempotent');
      const cfg = await t.api('GET', `/v1/webhook/config?canvasId=${canvasId}`);
      assert.deepEqual([cfg.body.data.isEnabled, cfg.body.data.timeout, cfg.body.data.bodyMode], [true, 0, 'variables']);

      const r = await call(wh.webhookId, { body: { variables: { feedback: 'hello' } } });
      assert.equal(r.status, 200);
      assert.equal(r.body.data.received, true);
      assert.equal(r.body.data.status, 'finish', 'its only task, an output, was evaluated with the accept');
      assert.ok(r.headers.get('x-ratelimit-limit-rpm'));
      const done = await waitDone(t, r.body.data.executionId);
      assert.equal(done.status, 'finish');
      assert.equal(done.trigger, 'webhook');
      const h = await history(wh.webhookId);
      assert.equal(h.total, 1);
      const rec = h.records[0];
      assert.equal(rec.callStatus, 'accepted');
      assert.equal(rec.status, 'success', "Refly's status follows the finished run");
      assert.equal(rec.httpStatus, 200);
      assert.equal(rec.executionId, r.body.data.executionId);
      assert.equal(rec.workflowExecutionId, r.body.data.executionId);
      assert.equal(rec.apiId, wh.webhookId);
      assert.equal(rec.requestUrl, wh.webhookUrl);
      assert.equal(rec.requestMethod, 'POST');
      assert.ok(rec.completedAt >= rec.createdAt);
      assert.equal(rec.sourceIp, '127.0.0.1');
      assert.ok(rec.bodySize > 0);
      assert.equal(rec.duplicate, false);
    });

    it('waits for the result when timeout > 0', async () => {
      const wh = await enable(await newWorkflow(), { timeout: 10 });
      const r = await call(wh.webhookId, { body: { variables: { feedback: 'wait' } } });
      assert.equal(r.body.data.status, 'finish');
      assert.equal(r.body.data.output[0].value.feedback, 'wait');
    });

    it('variables mode answers unwrapped fields with an example; raw mode takes JSON and form bodies', async () => {
      const plain = await enable(await newWorkflow());
      const unwrapped = await call(plain.webhookId, { body: { feedback: 'x' } });
      assert.equal(unwrapped.status, 400);
      assert.equal(unwrapped.body.errCode, 'INVALID_REQUEST_BODY');
      assert.ok(unwrapped.body.data.example);
      const empty = await call(plain.webhookId);
      assert.equal(empty.status, 200, 'empty body is allowed');

      const rawWf = await newWorkflow();
      const bad = await t.api('POST', '/v1/webhook/enable', { body: { canvasId: rawWf, bodyMode: 'raw', rawVariable: 'nope' } });
      assert.equal(bad.body.errCode, 'INVALID_REQUEST_BODY');
      const raw = await enable(rawWf, { bodyMode: 'raw', rawVariable: 'payload', timeout: 10 });
      const json = await call(raw.webhookId, { body: { action: 'opened', number: 7 } });
      assert.deepEqual(json.body.data.output[0].value.payload, { action: 'opened', number: 7 });
      const form = await call(raw.webhookId, { raw: 'name=Ada&tag=a&tag=b', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      assert.deepEqual(form.body.data.output[0].value.payload, { name: 'Ada', tag: ['a', 'b'] });
    });

    it('verifies Standard Webhooks signatures made with the standardwebhooks package', async () => {
      const wh = await enable(await newWorkflow(), { signature: { scheme: 'standard-webhooks', secret: SECRET } });
      const signer = new Webhook(SECRET);
      const payload = JSON.stringify({ variables: { feedback: 'signed' } });
      const sign = (id: string, at: Date, body = payload) => ({ 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': signer.sign(id, at, body) });
      const good = await call(wh.webhookId, { raw: payload, headers: sign('msg_1', new Date()) });
      assert.equal(good.status, 200, JSON.stringify(good.body));
      const again = await call(wh.webhookId, { raw: payload, headers: sign('msg_1', new Date()) });
      assert.equal(again.body.data.executionId, good.body.data.executionId, 'same webhook-id is the same event');
      assert.equal(again.headers.get('idempotent-replayed'), 'true');
      const tampered = await call(wh.webhookId, { raw: payload.replace('signed', 'forged'), headers: sign('msg_2', new Date()) });
      assert.equal(tampered.status, 401);
      assert.equal(tampered.body.errCode, 'INVALID_SIGNATURE');
      const stale = await call(wh.webhookId, { raw: payload, headers: sign('msg_3', new Date(Date.now() - 10 * 60_000)) });
      assert.equal(stale.status, 401);
      assert.match(stale.body.errMsg, /tolerance/);
      const unsigned = await call(wh.webhookId, { body: { variables: {} } });
      assert.equal(unsigned.status, 401);
      const cfg = await t.api('GET', `/v1/webhook/history?webhookId=${wh.webhookId}`);
      assert.ok(!JSON.stringify(cfg.body).includes(SECRET));
    });

    it("verifies GitHub's, Stripe's and generic HMAC signatures", async () => {
      const secret = 'shared-secret-123';
      const body = JSON.stringify({ variables: { feedback: 'hmac' } });
      const hex = (data: string) => createHmac('sha256', secret).update(data).digest('hex');

      const gh = await enable(await newWorkflow(), { signature: { scheme: 'github', secret } });
      const ghOk = await call(gh.webhookId, { raw: body, headers: { 'content-type': 'application/json', 'x-hub-signature-256': `sha256=${hex(body)}`, 'x-github-delivery': 'd-1' } });
      assert.equal(ghOk.status, 200);
      const ghBad = await call(gh.webhookId, { raw: body, headers: { 'content-type': 'application/json', 'x-hub-signature-256': `sha256=${hex(body + ' ')}` } });
      assert.equal(ghBad.body.errCode, 'INVALID_SIGNATURE');

      const st = await enable(await newWorkflow(), { signature: { scheme: 'stripe', secret } });
      const ts = Math.floor(Date.now() / 1000);
      const stOk = await call(st.webhookId, { raw: body, headers: { 'content-type': 'application/json', 'stripe-signature': `t=${ts},v1=${hex(`${ts}.${body}`)}` } });
      assert.equal(stOk.status, 200, JSON.stringify(stOk.body));
      const old = ts - 600;
      const stStale = await call(st.webhookId, { raw: body, headers: { 'content-type': 'application/json', 'stripe-signature': `t=${old},v1=${hex(`${old}.${body}`)}` } });
      assert.equal(stStale.body.errCode, 'INVALID_SIGNATURE');

      const gen = await enable(await newWorkflow(), { signature: { scheme: 'hmac-sha256', secret, header: 'X-Acme-Signature' } });
      const genOk = await call(gen.webhookId, { raw: body, headers: { 'content-type': 'application/json', 'x-acme-signature': hex(body) } });
      assert.equal(genOk.status, 200);
      const genMissing = await call(gen.webhookId, { raw: body, headers: { 'content-type': 'application/json' } });
      assert.equal(genMissing.body.errCode, 'INVALID_SIGNATURE');
    });

    it('dedupes: Idempotency-Key, and a byte-identical body within 1 s', async () => {
      const wh = await enable(await newWorkflow());
      const body = { variables: { feedback: 'dup' } };
      const a = await call(wh.webhookId, { body, headers: { 'idempotency-key': 'evt-1' } });
      const b = await call(wh.webhookId, { body, headers: { 'idempotency-key': 'evt-1' } });
      assert.equal(b.body.data.executionId, a.body.data.executionId);
      assert.equal(b.body.data.duplicate, true);
      const x = await call(wh.webhookId, { body: { variables: { feedback: 'debounce' } } });
      const y = await call(wh.webhookId, { body: { variables: { feedback: 'debounce' } } });
      assert.equal(y.body.data.executionId, x.body.data.executionId, 'Refly debounce: same body within 1 s');
      await new Promise((r) => setTimeout(r, 1100));
      const z = await call(wh.webhookId, { body: { variables: { feedback: 'debounce' } } });
      assert.notEqual(z.body.data.executionId, x.body.data.executionId, 'after the debounce window it is a new event');
      const h = await history(wh.webhookId);
      assert.equal(h.records.filter((r: { duplicate: boolean }) => r.duplicate).length, 2);
    });

    it('the same event fired 20 times at once makes exactly one execution', async () => {
      const canvasId = await newWorkflow();
      const wh = await enable(canvasId);
      const rs = await Promise.all(Array.from({ length: 20 }, () => call(wh.webhookId, { body: { variables: { feedback: 'storm' } }, headers: { 'webhook-id': 'msg_storm' } })));
      assert.ok(rs.every((r) => r.status === 200), JSON.stringify(rs.map((r) => r.status)));
      assert.equal(new Set(rs.map((r) => r.body.data.executionId)).size, 1);
      const runs = await t.api('GET', `/v1/openapi/workflow/${canvasId}/executions?limit=100`);
      assert.equal(runs.body.data.records.length, 1);
    });

    it('the same body fired 20 times at once, with no id, makes one execution and 20 history records', async () => {
      const canvasId = await newWorkflow();
      const wh = await enable(canvasId);
      const rs = await Promise.all(Array.from({ length: 20 }, () => call(wh.webhookId, { body: { variables: { feedback: 'body storm' } } })));
      assert.ok(rs.every((r) => r.status === 200), JSON.stringify(rs.map((r) => r.status)));
      assert.equal(new Set(rs.map((r) => r.body.data.executionId)).size, 1);
      assert.equal(rs.filter((r) => r.body.data.duplicate).length, 19);
      const runs = await t.api('GET', `/v1/openapi/workflow/${canvasId}/executions?limit=100`);
      assert.equal(runs.body.data.records.length, 1);
      const h = await historyUntil(wh.webhookId, (x) => x.records.length >= 20);
      assert.equal(h.records.filter((r: { duplicate: boolean }) => r.duplicate).length, 19);
      const timeline = await t.api('GET', `/v1/openapi/workflow/${rs[0]!.body.data.executionId}/timeline`);
      assert.match(timeline.body.data.trigger.bodySha256, /^[0-9a-f]{64}$/, 'the run shows the body hash it was deduplicated by');
    });

    it('disable → 403, unknown → 404, reset kills the old URL at once; rejected calls are recorded', async () => {
      const wh = await enable(await newWorkflow());
      await t.api('POST', '/v1/webhook/disable', { body: { webhookId: wh.webhookId } });
      const off = await call(wh.webhookId, { body: {} });
      assert.equal(off.status, 403);
      assert.equal(off.body.errCode, 'WEBHOOK_DISABLED');
      const xml = await call(wh.webhookId, { raw: '<x/>', headers: { 'content-type': 'application/xml' } });
      assert.equal(xml.status, 415);
      await t.api('POST', '/v1/webhook/update', { body: { webhookId: wh.webhookId, isEnabled: true, timeout: 5 } });
      assert.equal((await call(wh.webhookId, { body: {} })).status, 200);
      const reset = await t.api('POST', '/v1/webhook/reset', { body: { webhookId: wh.webhookId } });
      const fresh = reset.body.data.webhookId;
      assert.notEqual(fresh, wh.webhookId);
      assert.equal(reset.body.data.timeout, 5, 'settings carry over');
      const dead = await call(wh.webhookId, { body: {} });
      assert.equal(dead.status, 404);
      assert.equal(dead.body.errCode, 'WEBHOOK_NOT_FOUND');
      assert.equal((await call(fresh, { body: {} })).status, 200);
      assert.equal((await call('wh_doesnotexist00000000000000000000', { body: {} })).body.errCode, 'WEBHOOK_NOT_FOUND');
      // Calls are recorded once their answer is sent: give the last one a moment (bounded).
      assert.equal((await historyUntil(fresh, (h) => h.total >= 1)).total, 1);
      const oldHistory = await t.api('GET', `/v1/webhook/history?webhookId=${wh.webhookId}`);
      assert.equal(oldHistory.status, 404, 'a reset webhook is gone');
    });

    it('rate-limits per webhook with Refly and IETF headers', async () => {
      const wh = await enable(await newWorkflow(), { rateLimit: { perMinute: 2, perDay: 100 } });
      const ok1 = await call(wh.webhookId, { body: { variables: { feedback: '1' } } });
      assert.equal(ok1.headers.get('x-ratelimit-limit-rpm'), '2');
      assert.equal(ok1.headers.get('x-ratelimit-remaining-rpm'), '1');
      assert.equal(ok1.headers.get('x-ratelimit-limit-daily'), '100');
      assert.equal(ok1.headers.get('x-ratelimit-remaining-daily'), '99');
      assert.equal(ok1.headers.get('ratelimit-policy'), '"minute";q=2;w=60, "day";q=100;w=86400');
      await call(wh.webhookId, { body: { variables: { feedback: '2' } } });
      const limited = await call(wh.webhookId, { body: { variables: { feedback: '3' } } });
      assert.equal(limited.status, 429);
      assert.equal(limited.body.errCode, 'WEBHOOK_RATE_LIMITED');
      assert.ok(Number(limited.headers.get('retry-after')) >= 1);
      assert.match(limited.headers.get('ratelimit') ?? '', /^"minute";r=0;t=\d+$/);
      const h = await historyUntil(wh.webhookId, (x) => x.records.length >= 3);
      assert.equal(h.records[0].errCode, 'WEBHOOK_RATE_LIMITED');
    });
  });
}

describe('limits and overload', () => {
  it('API runs are rate-limited per workspace with RATE_LIMITED', async () => {
    const t = await startTestServer('sqlite', { workflowsPath: 'examples/workflows', rateLimitPerMinute: 2 });
    try {
      const run = () => t.api('POST', '/v1/openapi/workflow/c-feedback-triage/run', { body: { variables: { feedback: 'x' } } });
      assert.equal((await run()).status, 200);
      assert.equal((await run()).status, 200);
      const r = await run();
      assert.equal(r.status, 429);
      assert.equal(r.body.errCode, 'RATE_LIMITED');
      assert.ok(r.headers.get('retry-after'));
    } finally {
      await t.close();
    }
  });

  it('past the backlog bound new triggers get 503 SERVICE_OVERLOADED with Retry-After', async () => {
    // An API-only process that evaluates nothing at accept either: accepted runs stay in the backlog.
    const t = await startTestServer('sqlite', { workflowsPath: 'examples/workflows', role: 'api', maxBacklog: 3, evaluateOnAccept: false });
    try {
      const run = () => t.api('POST', '/v1/openapi/workflow/c-feedback-triage/run', { body: { variables: { feedback: 'x' } } });
      for (let i = 0; i < 3; i++) assert.equal((await run()).status, 200);
      const r = await run();
      assert.equal(r.status, 503);
      assert.equal(r.body.errCode, 'SERVICE_OVERLOADED');
      assert.equal(r.headers.get('retry-after'), '1');
    } finally {
      await t.close();
    }
  });

  it('runs with work for a worker count toward the backlog even when they start with expression tasks', async () => {
    // Evaluating at accept is for runs it can finish: this one has an http task, so it waits whole.
    const t = await startTestServer('sqlite', { role: 'api', maxBacklog: 2 });
    try {
      const wf = await t.api('POST', '/v1/workflows', {
        body: { title: 'mixed', tasks: [{ id: 'prep', kind: 'transform', expression: '1' }, { id: 'call', kind: 'http', dependentTasks: ['prep'], request: { method: 'GET', url: 'https://example.com/' } }] },
      });
      const run = () => t.api('POST', `/v1/openapi/workflow/${wf.body.data.canvasId}/run`, { body: {} });
      for (let i = 0; i < 2; i++) assert.equal((await run()).body.data.status, 'init');
      assert.equal((await run()).body.errCode, 'SERVICE_OVERLOADED');
    } finally {
      await t.close();
    }
  });

  it('instances sharing REDIS_URL share webhook counters', async () => {
    const prefix = `fgtest${Date.now()}`;
    const a = await startTestServer('postgres', { redisUrl: 'redis://127.0.0.1:6379', redisKeyPrefix: prefix });
    // The second instance opens the first one's database (its own would be left behind).
    const b = await startTestServer('postgres', { redisUrl: 'redis://127.0.0.1:6379', redisKeyPrefix: prefix }, a.target);
    try {
      const wf = await a.api('POST', '/v1/workflows', { body: WORKFLOW });
      const wh = (await a.api('POST', '/v1/webhook/enable', { body: { canvasId: wf.body.data.canvasId, rateLimit: { perMinute: 3 } } })).body.data;
      const fire = (t: TestServer, i: number) => t.api('POST', `/v1/openapi/webhook/${wh.webhookId}/run`, { key: null, body: { variables: { feedback: `r${i}` } } });
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await fire(i % 2 ? b : a, i)).status);
      assert.deepEqual(statuses, [200, 200, 200, 429]);
    } finally {
      await b.server.close();
      await a.close();
    }
  });
});
