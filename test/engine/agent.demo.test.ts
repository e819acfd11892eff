import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { demoCompletion, demoLabel } from '../../src/engine/tasks/demoModel.ts';
import { fakeServer, json, type FakeServer } from '../helpers/fakes.ts';
import { startTestServer, waitDone, type TestServer } from '../helpers/server.ts';

// The demo model (FLOWGATE_MODEL_BASE_URL=demo): agent tasks tried offline, deterministically.
describe('demo model', () => {
  it('picks the offered label the text mentions, else the first; says it is the demo otherwise', () => {
    assert.equal(demoLabel('Label this issue as one of: bug, feature, question.\nThe export crashes, a bug for sure', ['bug', 'feature', 'question']), 'bug');
    assert.equal(demoLabel('one of: bug, feature\nHello there', ['bug', 'feature']), 'bug');
    const plain = demoCompletion({ model: 'demo', messages: [{ role: 'user', content: 'Summarise this. It is long.' }] });
    assert.equal(plain.choices[0]!.message.content, '[demo model] Summarise this.');
    const again = demoCompletion({ model: 'demo', messages: [{ role: 'user', content: 'Summarise this. It is long.' }] });
    assert.deepEqual(again, plain, 'deterministic');
  });

  describe('through a server', () => {
    let t: TestServer;
    let kb: FakeServer;
    before(async () => {
      kb = await fakeServer((req, _body, res) => json(res, 200, { article: `Reset it from Settings (${decodeURIComponent(req.url!.split('q=')[1] ?? '').slice(0, 20)})` }));
      t = await startTestServer('sqlite', { model: { baseUrl: 'demo' }, allowPrivateNetworks: true });
    });
    after(async () => {
      await t.close();
      await kb.close();
    });

    it('classifies with a label, and an agent with a tool calls it and reports what it answered', async () => {
      const wf = await t.api('POST', '/v1/workflows', {
        body: {
          title: 'Demo triage',
          variables: [{ name: 'text', variableType: 'string', required: true }],
          tools: [{ name: 'searchKb', description: 'Search the help centre', parameters: { type: 'object', properties: { q: { type: 'string' } }, required: ['q'] }, request: { url: `${kb.url}/search?q={{ $encodeUrlComponent(args.q) }}` } }],
          tasks: [
            { id: 'label', kind: 'agent', prompt: 'Answer with one of: bug, feature, question.\n{{ variables.text }}' },
            { id: 'answer', kind: 'agent', prompt: '{{ variables.text }}', toolsets: ['searchKb'] },
            { id: 'out', kind: 'output', dependentTasks: ['label', 'answer'], value: { label: '{{ tasks.label.output }}', answer: '{{ tasks.answer.output }}' } },
          ],
        },
      });
      assert.equal(wf.status, 201, JSON.stringify(wf.body));
      const run = await t.api('POST', `/v1/openapi/workflow/${wf.body.data.canvasId}/run`, { body: { variables: { text: 'How do I reset my password? Is this a question?' } } });
      const done = await waitDone(t, run.body.data.executionId);
      assert.equal(done.status, 'finish', JSON.stringify(done));
      const out = (await t.api('GET', `/v1/openapi/workflow/${run.body.data.executionId}/output`)).body.data.output[0].value;
      assert.equal(out.label, 'question');
      assert.match(out.answer, /^\[demo model\] From the tools: .*Reset it from Settings/);
      assert.equal(kb.requests.length, 1, 'the tool was called once');
    });
  });
});
