import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config.ts';
import { runHttp, parseRetryAfter } from '../../src/engine/tasks/http.ts';
import type { TaskInput } from '../../src/engine/tasks/types.ts';
import type { HttpTask } from '../../src/workflows/definition.ts';
import { fakeServer, json, type FakeServer } from '../helpers/fakes.ts';

const config = loadConfig({}, { allowPrivateNetworks: true, templateEnv: { CRM_TOKEN: 's3cret' }, maxResponseBytes: 1000 });

function input(task: Omit<HttpTask, 'kind' | 'id'>, signal = new AbortController().signal): TaskInput<HttpTask> {
  return {
    task: { id: 'call', kind: 'http', ...task },
    workflow: { title: 't', tasks: [] },
    context: { variables: { name: 'Ada', n: 3 }, tasks: { prev: { output: { id: 42 }, messages: [], status: 'finish' } }, execution: { id: 'we-1', canvasId: 'c-1' } },
    executionId: 'we-1',
    attempt: 1,
    signal,
    config,
  };
}

describe('http task', () => {
  let api: FakeServer;
  before(async () => {
    api = await fakeServer((req, _body, res) => {
      if (req.url!.startsWith('/ok')) return json(res, 200, { received: true });
      if (req.url === '/text') return res.writeHead(200, { 'content-type': 'text/plain' }).end('plain words');
      if (req.url === '/busy') return json(res, 429, { error: 'slow down' }, { 'retry-after': '2' });
      if (req.url === '/down') return json(res, 503, {});
      if (req.url === '/bad') return json(res, 400, { error: 'nope' });
      if (req.url === '/big') return res.writeHead(200).end('x'.repeat(5000));
      if (req.url === '/hang') return; // never answers
      json(res, 404, {});
    });
  });
  after(() => api.close());

  it('renders templates in url, query, headers and body, and sends a stable Idempotency-Key', async () => {
    const r = await runHttp(input({
      request: {
        method: 'POST',
        url: `${api.url}/ok/{{ tasks.prev.output.id }}`,
        query: { who: '{{ variables.name }}' },
        headers: { Authorization: 'Bearer {{ $env.CRM_TOKEN }}' },
        body: { n: '{{ variables.n }}', greeting: 'hi {{ variables.name }}' },
      },
    }));
    assert.equal(r.type, 'finished');
    assert.deepEqual(r.type === 'finished' && r.output, { status: 200, headers: (r as { output: { headers: unknown } }).output.headers, body: { received: true } });
    const req = api.requests.at(-1)!;
    assert.equal(req.url, '/ok/42?who=Ada');
    assert.equal(req.headers.authorization, 'Bearer s3cret');
    assert.equal(req.headers['idempotency-key'], 'we-1:call');
    assert.deepEqual(JSON.parse(req.body), { n: 3, greeting: 'hi Ada' });
  });

  it('keeps non-JSON bodies as text', async () => {
    const r = await runHttp(input({ request: { url: `${api.url}/text` } }));
    assert.equal(r.type === 'finished' && (r.output as { body: unknown }).body, 'plain words');
  });

  it('classifies failures: 429 and 5xx retryable (with Retry-After), other 4xx not', async () => {
    const busy = await runHttp(input({ request: { url: `${api.url}/busy` } }));
    assert.equal(busy.type, 'failed');
    assert.ok(busy.type === 'failed' && busy.retryable && busy.retryAfterMs === 2000 && busy.httpStatus === 429);
    const down = await runHttp(input({ request: { url: `${api.url}/down` } }));
    assert.ok(down.type === 'failed' && down.retryable && down.errCode === 'UPSTREAM_ERROR');
    const bad = await runHttp(input({ request: { url: `${api.url}/bad` } }));
    assert.ok(bad.type === 'failed' && !bad.retryable && bad.httpStatus === 400);
    assert.match(bad.type === 'failed' ? bad.message : '', /GET 127\.0\.0\.1:\d+\/bad answered 400/);
    const refused = await runHttp(input({ request: { url: 'http://127.0.0.1:1/' } }));
    assert.ok(refused.type === 'failed' && refused.retryable && refused.errCode === 'UPSTREAM_ERROR');
  });

  it('refuses a response larger than the limit without buffering it', async () => {
    const r = await runHttp(input({ request: { url: `${api.url}/big` } }));
    assert.ok(r.type === 'failed' && !r.retryable);
    assert.match(r.type === 'failed' ? r.message : '', /larger than 1000 bytes/);
  });

  it('turns an abort into the reason the engine gave', async () => {
    const ctl = new AbortController();
    const pending = runHttp(input({ request: { url: `${api.url}/hang` } }, ctl.signal));
    setTimeout(() => ctl.abort({ code: 'NODE_TIMEOUT' }), 100);
    const r = await pending;
    assert.ok(r.type === 'failed' && r.errCode === 'NODE_TIMEOUT' && r.retryable);
    const ctl2 = new AbortController();
    const p2 = runHttp(input({ request: { url: `${api.url}/hang` } }, ctl2.signal));
    setTimeout(() => ctl2.abort({ code: 'EXECUTION_ABORTED' }), 50);
    const r2 = await p2;
    assert.ok(r2.type === 'failed' && r2.errCode === 'EXECUTION_ABORTED' && !r2.retryable);
  });

  it('reports template errors as EXPRESSION_ERROR', async () => {
    const r = await runHttp(input({ request: { url: `${api.url}/{{ $undefinedFn() }}` } }));
    assert.ok(r.type === 'failed' && r.errCode === 'EXPRESSION_ERROR' && !r.retryable);
  });

  it('parses Retry-After as seconds or a date, capped', () => {
    assert.equal(parseRetryAfter('3'), 3000);
    assert.equal(parseRetryAfter(new Date(Date.UTC(2030, 0, 1, 0, 0, 10)).toUTCString(), Date.UTC(2030, 0, 1)), 10_000);
    assert.equal(parseRetryAfter('999999'), 3_600_000);
    assert.equal(parseRetryAfter('soon'), undefined);
    assert.equal(parseRetryAfter(undefined), undefined);
  });
});
