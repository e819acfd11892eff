import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { hashSecret } from '../../src/http/auth.ts';
import { startTestServer, waitDone, type TestServer } from '../helpers/server.ts';
import { STORE_KINDS } from '../helpers/stores.ts';

// What the console reads besides the run API: who the key is, counts per status, old versions, and
// read-scope access to the cross-workflow lists.
const ID = 'c-feedback-triage';
const READER = 'fg_console_reader_0000000000000000000';
const RUNNER = 'fg_console_runner_0000000000000000000';

for (const kind of STORE_KINDS) {
  describe(`console API (${kind})`, () => {
    let t: TestServer;
    before(async () => {
      t = await startTestServer(kind, { workflowsPath: 'examples/workflows' });
      await t.server.store.catalog.createApiKey({ id: 'ak-reader', workspaceId: 'ws-default', name: 'reader', prefix: 'fg_cons', secretHash: hashSecret(READER), scopes: ['read'], createdAt: 1 });
      await t.server.store.catalog.createApiKey({ id: 'ak-runner', workspaceId: 'ws-default', name: 'runner', prefix: 'fg_cons', secretHash: hashSecret(RUNNER), scopes: ['run'], createdAt: 1 });
    });
    after(() => t.close());

    it('GET /v1/api-keys/current names the key, its workspace and scopes, never the secret', async () => {
      const r = await t.api('GET', '/v1/api-keys/current', { key: READER });
      assert.equal(r.status, 200);
      assert.deepEqual({ id: r.body.data.id, scopes: r.body.data.scopes, workspaceId: r.body.data.workspaceId }, { id: 'ak-reader', scopes: ['read'], workspaceId: 'ws-default' });
      assert.ok(!JSON.stringify(r.body).includes(READER));
      assert.equal((await t.api('GET', '/v1/api-keys/current', { key: RUNNER })).body.errCode, 'FORBIDDEN');
      assert.equal((await t.api('GET', '/v1/api-keys/current', { key: null })).status, 401);
    });

    it('counts executions per status under the list filters, and a read key lists across workflows', async () => {
      const ids: string[] = [];
      for (const feedback of ['one', 'two', 'three', 'four']) {
        const r = await t.api('POST', `/v1/openapi/workflow/${ID}/run`, { body: { variables: { feedback } } });
        ids.push(r.body.data.executionId);
      }
      for (const id of ids) await waitDone(t, id);
      const all = await t.api('GET', '/v1/executions/counts', { key: READER });
      assert.equal(all.status, 200, JSON.stringify(all.body));
      assert.deepEqual(all.body.data.counts, { init: 0, executing: 0, finish: 4, failed: 0 });
      assert.deepEqual(all.body.data.capped, []);
      const byWorkflow = await t.api('GET', `/v1/executions/counts?canvasId=c-other&trigger=api`, { key: READER });
      assert.deepEqual(byWorkflow.body.data.counts, { init: 0, executing: 0, finish: 0, failed: 0 });
      const future = await t.api('GET', `/v1/executions/counts?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`, { key: READER });
      assert.equal(future.body.data.counts.finish, 0);
      assert.equal((await t.api('GET', '/v1/executions/counts?since=yesterday', { key: READER })).body.errCode, 'INVALID_REQUEST_BODY');
      const list = await t.api('GET', '/v1/executions?limit=2', { key: READER });
      assert.equal(list.status, 200);
      assert.equal(list.body.data.records.length, 2);
      assert.equal((await t.api('GET', '/v1/executions', { key: RUNNER })).body.errCode, 'FORBIDDEN');
    });

    it('status lists each node\'s dependsOn, so a client can draw the DAG', async () => {
      const r = await t.api('POST', `/v1/openapi/workflow/${ID}/run?wait=10`, { body: { variables: { feedback: 'fine' } } });
      const s = await t.api('GET', `/v1/openapi/workflow/${r.body.data.executionId}/status`, { key: READER });
      const deps = Object.fromEntries(s.body.data.nodeExecutions.map((n: { nodeId: string; dependsOn: string[] }) => [n.nodeId, n.dependsOn]));
      assert.deepEqual(deps.normalize, []);
      assert.deepEqual(deps.result, ['words', 'escalation']);
    });

    it('reads every version of a definition with a read key; a missing version or workflow is a clear 404', async () => {
      const w = (await t.api('GET', `/v1/workflows/${ID}`, { key: READER })).body.data;
      const v1Title = w.definition.title;
      const put = await t.api('PUT', `/v1/workflows/${ID}`, { body: { ...w.definition, title: 'Feedback triage, renamed' } });
      assert.equal(put.status, 200);
      const v = put.body.data.version as number;
      const old = await t.api('GET', `/v1/workflows/${ID}/versions/${v - 1}`, { key: READER });
      assert.equal(old.status, 200);
      assert.equal(old.body.data.definition.title, v1Title);
      assert.equal((await t.api('GET', `/v1/workflows/${ID}/versions/${v}`, { key: READER })).body.data.definition.title, 'Feedback triage, renamed');
      const missing = await t.api('GET', `/v1/workflows/${ID}/versions/${v + 1}`, { key: READER });
      assert.equal(missing.status, 404);
      assert.equal(missing.body.errCode, 'NOT_FOUND');
      assert.match(missing.body.errMsg, new RegExp(`versions 1 to ${v}`));
      assert.equal((await t.api('GET', `/v1/workflows/c-nope/versions/1`, { key: READER })).body.errCode, 'CANVAS_NOT_FOUND');
      assert.equal((await t.api('GET', `/v1/workflows/${ID}/versions/0`, { key: READER })).status, 400);
      const list = await t.api('GET', '/v1/workflows', { key: READER });
      assert.ok(list.body.data.workflows.some((x: { canvasId: string }) => x.canvasId === ID));
      assert.equal((await t.api('PUT', `/v1/workflows/${ID}`, { body: w.definition, key: READER })).body.errCode, 'FORBIDDEN');
    });

    it('/ leads to the console and /ui answers (the page when built, a 503 that says how otherwise)', async () => {
      const root = await fetch(`${t.url}/`, { redirect: 'manual' });
      assert.equal(root.status, 302);
      assert.equal(root.headers.get('location'), '/ui/');
      const ui = await fetch(`${t.url}/ui/runs`);
      assert.ok(ui.status === 200 || (ui.status === 503 && /npm run build/.test(await ui.text())), `status ${ui.status}`);
    });
  });
}
