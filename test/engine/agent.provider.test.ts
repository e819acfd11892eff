import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadConfig, type Config } from '../../src/config.ts';
import { runAgent } from '../../src/engine/tasks/agent.ts';
import type { TaskInput } from '../../src/engine/tasks/types.ts';
import type { AgentTask, WorkflowDefinition } from '../../src/workflows/definition.ts';
import { fakeServer, json, type FakeServer } from '../helpers/fakes.ts';
import { startTestServer } from '../helpers/server.ts';

/** A fake OpenAI-compatible provider: answers from a script, one entry per chat-completions call. */
type Scripted = { status?: number; body: unknown; headers?: Record<string, string> };
const completion = (message: Record<string, unknown>, usage = { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 }) => ({
  body: { id: 'cmpl', object: 'chat.completion', created: 0, model: 'fake', choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', ...message } }], usage },
});

describe('agent task against an OpenAI-compatible provider', () => {
  let provider: FakeServer;
  let script: Scripted[] = [];
  before(async () => {
    provider = await fakeServer((req, _body, res) => {
      if (req.url === '/v1/chat/completions') {
        const next = script.shift() ?? { status: 500, body: { error: { message: 'script exhausted' } } };
        return json(res, next.status ?? 200, next.body, next.headers);
      }
      if (req.url?.startsWith('/orders/')) return json(res, 200, { id: req.url.split('/')[2], state: 'shipped' });
      json(res, 404, {});
    });
  });
  after(() => provider.close());

  const workflow: WorkflowDefinition = {
    title: 'Support',
    variables: [{ name: 'orderId', variableType: 'string' }],
    tools: [{ name: 'lookupOrder', description: 'Look up an order', parameters: { type: 'object', properties: { id: { type: 'string' } } }, request: { url: '' } }],
    tasks: [],
  };
  const config = (over: Partial<Config> = {}) =>
    loadConfig({}, { model: { baseUrl: `${provider.url}/v1`, apiKey: 'k', model: 'fake-model' }, allowPrivateNetworks: true, ...over });
  const input = (task: Partial<AgentTask>, cfg = config()): TaskInput<AgentTask> => ({
    task: { id: 'answer', kind: 'agent', prompt: 'Where is order {{ variables.orderId }}?', ...task },
    workflow: { ...workflow, tools: [{ ...workflow.tools![0]!, request: { url: `${provider.url}/orders/{{ args.id }}` } }] },
    context: { variables: { orderId: '42' }, tasks: {}, execution: { id: 'we-1', canvasId: 'c-1' } },
    executionId: 'we-1',
    attempt: 1,
    signal: new AbortController().signal,
    config: cfg,
  });

  it('loops over tool calls, records messages and usage, with deterministic settings', async () => {
    script = [
      completion({ content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'lookupOrder', arguments: '{"id":"42"}' } }] }),
      completion({ content: 'Order 42 has shipped.', reasoning_content: 'looked it up' }),
    ];
    const before = provider.requests.length;
    const r = await runAgent(input({ toolsets: ['lookupOrder'], systemPrompt: 'Be brief.' }));
    assert.equal(r.type, 'finished', JSON.stringify(r));
    if (r.type !== 'finished') return;
    assert.equal(r.output, 'Order 42 has shipped.');
    assert.deepEqual(r.usage, { promptTokens: 20, completionTokens: 10, totalTokens: 30 });
    assert.deepEqual(r.messages!.map((m) => m.type), ['ai', 'tool', 'ai']);
    assert.equal(r.messages![0]!.toolCalls![0]!.name, 'lookupOrder');
    assert.match(r.messages![1]!.content, /"state":"shipped"/);
    assert.equal(r.messages![2]!.reasoningContent, 'looked it up');

    const calls = provider.requests.slice(before).filter((q) => q.url === '/v1/chat/completions').map((q) => JSON.parse(q.body));
    assert.equal(calls.length, 2);
    assert.equal(calls[0].model, 'fake-model');
    assert.equal(calls[0].temperature, 0);
    assert.equal(calls[0].seed, 0);
    assert.deepEqual(calls[0].messages, [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Where is order 42?' },
    ]);
    assert.equal(calls[0].tools[0].function.name, 'lookupOrder');
    assert.equal(calls[1].messages.at(-1).role, 'tool');
    const toolCall = provider.requests.find((q) => q.url === '/orders/42');
    assert.equal(toolCall?.headers['idempotency-key'], 'we-1:answer:call_1');
  });

  it('fails clearly without a provider', async () => {
    const r = await runAgent(input({}, loadConfig({}, {})));
    assert.ok(r.type === 'failed' && r.errCode === 'MODEL_NOT_CONFIGURED' && !r.retryable);
    assert.match(r.type === 'failed' ? r.message : '', /FLOWGATE_MODEL_BASE_URL/);
  });

  it('classifies provider errors: 429/5xx retryable with Retry-After, 401 not', async () => {
    script = [{ status: 429, body: { error: { message: 'slow down' } }, headers: { 'retry-after': '3' } }];
    const busy = await runAgent(input({}));
    assert.ok(busy.type === 'failed' && busy.retryable && busy.retryAfterMs === 3000 && busy.httpStatus === 429, JSON.stringify(busy));
    script = [{ status: 401, body: { error: { message: 'bad key' } } }];
    const denied = await runAgent(input({}));
    assert.ok(denied.type === 'failed' && !denied.retryable && denied.errCode === 'UPSTREAM_ERROR');
  });

  it('gives up after maxSteps tool rounds', async () => {
    const loop = completion({ content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'lookupOrder', arguments: '{"id":"1"}' } }] });
    script = [loop, loop];
    const r = await runAgent(input({ toolsets: ['lookupOrder'], maxSteps: 2 }));
    assert.ok(r.type === 'failed' && /within 2 steps/.test(r.message));
  });

  it('runs end to end: the output endpoint shows the answer and the conversation', async () => {
    const t = await startTestServer('sqlite', { model: { baseUrl: `${provider.url}/v1`, model: 'fake-model' } });
    try {
      script = [completion({ content: 'positive' })];
      const wf = await t.api('POST', '/v1/workflows', {
        body: {
          title: 'Classify',
          variables: [{ name: 'feedback', variableType: 'string', required: true }],
          tasks: [
            { id: 'classify', kind: 'agent', prompt: 'Classify: {{ variables.feedback }}' },
            { id: 'result', kind: 'output', dependentTasks: ['classify'], value: { label: '{{ tasks.classify.output }}' } },
          ],
        },
      });
      const r = await t.api('POST', `/v1/openapi/workflow/${wf.body.data.canvasId}/run?wait=10`, { body: { variables: { feedback: 'great product' } } });
      assert.equal(r.body.data.status, 'finish', JSON.stringify(r.body));
      assert.deepEqual(r.body.data.output[0].value, { label: 'positive' });
      assert.deepEqual(r.body.data.output[0].messages.map((m: { type: string; content: string }) => [m.type, m.content]), [['ai', 'positive']]);
      const sent = JSON.parse(provider.requests.filter((q) => q.url === '/v1/chat/completions').at(-1)!.body);
      assert.equal(sent.messages[0].content, 'Classify: great product');

      // A text file's content in the prompt: upload, pass the fileKey, read it with $fileText.
      const form = new FormData();
      form.append('files', new Blob(['Clause 7: the vendor pays.'], { type: 'text/plain' }), 'contract.txt');
      const up = (await (await fetch(`${t.url}/v1/openapi/files/upload`, { method: 'POST', headers: { authorization: 'Bearer fg_test_admin_key_0123456789abcdef' }, body: form })).json()) as any;
      const docWf = await t.api('POST', '/v1/workflows', {
        body: { title: 'Summarise', variables: [{ name: 'doc', variableType: 'resource', required: true }], tasks: [{ id: 'sum', kind: 'agent', prompt: 'Summarise {{ variables.doc.name }}: {{ $fileText(variables.doc) }}' }] },
      });
      script = [completion({ content: 'The vendor pays.' })];
      const r2 = await t.api('POST', `/v1/openapi/workflow/${docWf.body.data.canvasId}/run?wait=10`, { body: { variables: { doc: up.data.files[0].fileKey } } });
      assert.equal(r2.body.data.status, 'finish', JSON.stringify(r2.body));
      const sent2 = JSON.parse(provider.requests.filter((q) => q.url === '/v1/chat/completions').at(-1)!.body);
      assert.equal(sent2.messages[0].content, 'Summarise contract.txt: Clause 7: the vendor pays.');
    } finally {
      await t.close();
    }
  });
});
