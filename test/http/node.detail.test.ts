import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fakeServer, json, type FakeServer } from '../helpers/fakes.ts';
import { startTestServer, waitDone, type TestServer } from '../helpers/server.ts';

const TOKEN = 'crm-token-0123456789';

describe('node detail: what each attempt sent, with secrets masked', () => {
  let t: TestServer;
  let crm: FakeServer;
  let calls = 0;
  before(async () => {
    crm = await fakeServer((_req, _body, res) => (++calls === 1 ? json(res, 503, { busy: true }) : json(res, 200, { id: 'lead-1' })));
    t = await startTestServer('sqlite', { allowPrivateNetworks: true, templateEnv: { CRM_TOKEN: TOKEN } });
  });
  after(async () => {
    await t.close();
    await crm.close();
  });

  it('GET /v1/executions/{executionId}/nodes/{nodeId}: attempts with their rendered request, output, files; 404s', async () => {
    const wf = await t.api('POST', '/v1/workflows', {
      body: {
        title: 'CRM',
        variables: [{ name: 'email', variableType: 'string' }],
        tasks: [
          {
            id: 'lead',
            kind: 'http',
            request: { method: 'POST', url: `${crm.url}/leads`, headers: { Authorization: 'Bearer {{ $env.CRM_TOKEN }}', 'X-Echo': '{{ $env.CRM_TOKEN }}' }, body: { email: '{{ variables.email }}', note: 'token {{ $env.CRM_TOKEN }}' } },
            retry: { maxAttempts: 3, initialDelayMs: 10 },
          },
        ],
      },
    });
    const run = await t.api('POST', `/v1/openapi/workflow/${wf.body.data.canvasId}/run`, { body: { variables: { email: 'a@example.com' } } });
    const id = run.body.data.executionId as string;
    assert.equal((await waitDone(t, id)).status, 'finish');
    const r = await t.api('GET', `/v1/executions/${id}/nodes/lead`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const node = r.body.data;
    assert.deepEqual([node.kind, node.status, node.output.body], ['http', 'finish', { id: 'lead-1' }]);
    assert.equal(node.attempts.length, 2);
    const [first, second] = node.attempts;
    assert.deepEqual([first.httpStatus, second.httpStatus], [503, 200]);
    for (const a of node.attempts) {
      assert.equal(a.input.method, 'POST');
      assert.equal(a.input.url, `${crm.url}/leads`);
      assert.equal(a.input.headers.authorization, '[redacted]');
      assert.equal(a.input.headers['x-echo'], '[redacted]', '$env values are masked wherever they appear');
      assert.deepEqual(a.input.body, { email: 'a@example.com', note: 'token [redacted]' });
    }
    assert.ok(!JSON.stringify(r.body).includes(TOKEN), 'the secret appears nowhere in the answer');
    assert.deepEqual(node.files, []);

    assert.equal((await t.api('GET', `/v1/executions/${id}/nodes/nope`)).status, 404);
    const missing = await t.api('GET', '/v1/executions/we-01aaaaaaaaaaaaaaaaaaaaaaaa/nodes/lead');
    assert.equal(missing.body.errCode, 'EXECUTION_NOT_FOUND');
  });
});
