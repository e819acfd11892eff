import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.ts';

describe('operations endpoints', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer('sqlite', { workflowsPath: 'examples/workflows' });
  });
  after(() => t.close());

  it('healthz and readyz answer without a key', async () => {
    assert.equal((await t.api('GET', '/healthz', { key: null })).status, 200);
    const ready = await t.api('GET', '/readyz', { key: null });
    assert.equal(ready.status, 200);
    assert.equal(ready.body.store, 'sqlite');
  });

  it('metrics expose request latency, executions and backlog', async () => {
    await t.api('POST', '/v1/openapi/workflow/c-feedback-triage/run?wait=10', { body: { variables: { feedback: 'metrics' } } });
    const m = await t.api('GET', '/metrics', { key: null });
    assert.equal(m.status, 200);
    for (const name of ['flowgate_http_request_duration_seconds', 'flowgate_executions_total', 'flowgate_backlog_executions', 'flowgate_node_duration_seconds']) {
      assert.ok(m.body.includes(name), name);
    }
    assert.match(m.body, /flowgate_executions_total\{status="finish"\} [1-9]/);
  });

  it('a run of expression tasks is finished by its accept, with the result the worker turns give', async () => {
    // The same workflow where every task is queued: the worker evaluates them in the turns that claim them.
    const queued = await startTestServer('sqlite', { workflowsPath: 'examples/workflows', evaluateOnAccept: false });
    try {
      const output = async (s: TestServer, id: string) =>
        (await s.api('GET', `/v1/openapi/workflow/${id}/output`)).body.data.output.map((o: { nodeId: string; value: unknown }) => [o.nodeId, o.value]);
      // A calm report skips the escalation branch; an urgent one takes it.
      for (const feedback of ['  Same RESULT here ', 'The site is DOWN again']) {
        const body = { variables: { feedback } };
        const atAccept = await t.api('POST', '/v1/openapi/workflow/c-feedback-triage/run', { body });
        assert.equal(atAccept.body.data.status, 'finish', 'answered finished, without waiting');
        await queued.api('POST', '/v1/openapi/workflow/c-feedback-triage/run?wait=10', { body }); // loads the definition into the worker's cache
        const inTurn = await queued.api('POST', '/v1/openapi/workflow/c-feedback-triage/run?wait=10', { body });
        assert.equal(inTurn.body.data.status, 'finish');
        const expected = await output(queued, inTurn.body.data.executionId);
        assert.ok(expected.length > 0 && expected.every(([, v]: [string, unknown]) => v !== null), JSON.stringify(expected));
        assert.deepEqual(await output(t, atAccept.body.data.executionId), expected);
        const status = await t.api('GET', `/v1/openapi/workflow/${atAccept.body.data.executionId}/status`);
        const escalation = status.body.data.nodeExecutions.find((n: { nodeId: string }) => n.nodeId === 'escalation');
        assert.equal(escalation.flowgateStatus ?? escalation.status, feedback.includes('DOWN') ? 'finish' : 'skipped');
      }
      assert.match((await t.api('GET', '/metrics', { key: null })).body, /flowgate_nodes_evaluated_at_accept_total [1-9]/);
      assert.match((await queued.api('GET', '/metrics', { key: null })).body, /flowgate_nodes_evaluated_in_turn_total [1-9]/);
    } finally {
      await queued.close();
    }
  });

  it('serves the OpenAPI 3.1 document with every public path, and the docs page', async () => {
    const doc = await t.api('GET', '/openapi.json', { key: null });
    assert.equal(doc.status, 200);
    assert.match(doc.body.openapi, /^3\.1/);
    for (const p of [
      '/v1/openapi/workflow/{canvasId}/run',
      '/v1/openapi/workflow/{executionId}/status',
      '/v1/openapi/workflow/{executionId}/output',
      '/v1/openapi/workflow/{executionId}/abort',
      '/v1/openapi/workflows',
      '/v1/openapi/workflows/{canvasId}/schema',
      '/v1/workflows',
      '/v1/api-keys',
      '/v1/openapi/webhook/{webhookId}/run',
      '/v1/webhook/enable',
      '/v1/webhook/history',
    ]) {
      assert.ok(doc.body.paths[p], p);
    }
    const docs = await fetch(`${t.url}/docs/`);
    assert.equal(docs.status, 200);
  });
});
