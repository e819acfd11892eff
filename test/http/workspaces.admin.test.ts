import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { STORE_KINDS } from '../helpers/stores.ts';
import { ADMIN_KEY, startTestServer, waitDone, type TestServer } from '../helpers/server.ts';

const INSTANCE_KEY = 'fg_instance_admin_key_for_tests_000000';
const orders = (title: string) => ({ canvasId: 'c-orders', title, tasks: [{ id: 'out', kind: 'output', value: title }] });

describe('workspace administration is off without FLOWGATE_ADMIN_KEY', () => {
  it('answers 403 with the setting to use, even to a workspace admin key', async () => {
    const t = await startTestServer('sqlite');
    try {
      const r = await t.api('POST', '/v1/workspaces', { body: { name: 'x' } });
      assert.equal(r.status, 403);
      assert.equal(r.body.errCode, 'FORBIDDEN');
      assert.match(r.body.errMsg, /FLOWGATE_ADMIN_KEY/);
    } finally {
      await t.close();
    }
  });
});

for (const kind of STORE_KINDS) {
  describe(`workspaces on ${kind}: created, isolated and disabled by the instance admin`, () => {
    let t: TestServer;
    const admin = (method: string, path: string, body?: unknown) => t.api(method, path, { key: INSTANCE_KEY, body });
    before(async () => {
      t = await startTestServer(kind, { adminKey: INSTANCE_KEY });
    });
    after(() => t.close());

    it('only the instance admin key manages workspaces; a workspace key is not enough', async () => {
      for (const key of [ADMIN_KEY, null, 'fg_wrong']) {
        const r = await t.api('GET', '/v1/workspaces', { key });
        assert.equal(r.status, 401, String(key));
        assert.equal(r.body.errCode, 'UNAUTHORIZED');
      }
      // And the instance key is not a workspace key.
      const r = await t.api('GET', '/v1/workflows', { key: INSTANCE_KEY });
      assert.equal(r.status, 401);
    });

    it('creates a workspace with its first admin key; ids are unique and validated', async () => {
      const r = await admin('POST', '/v1/workspaces', { workspaceId: 'ws-acme', name: 'Acme' });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      assert.equal(r.body.data.workspaceId, 'ws-acme');
      assert.equal(r.body.data.disabled, false);
      assert.deepEqual(r.body.data.apiKey.scopes, ['admin']);
      assert.match(r.body.data.apiKey.secret, /^fg_/);
      const again = await admin('POST', '/v1/workspaces', { workspaceId: 'ws-acme', name: 'Acme again' });
      assert.equal(again.status, 409);
      assert.equal(again.body.errCode, 'WORKSPACE_EXISTS');
      const generated = await admin('POST', '/v1/workspaces', { name: 'Generated' });
      assert.match(generated.body.data.workspaceId, /^ws-[a-z0-9]+$/);
      for (const bad of [{ workspaceId: 'acme', name: 'x' }, { workspaceId: 'ws-UPPER', name: 'x' }, { name: '' }, { name: 'x', extra: 1 }]) {
        const b = await admin('POST', '/v1/workspaces', bad);
        assert.equal(b.status, 400, JSON.stringify(bad));
      }
      const list = await admin('GET', '/v1/workspaces?pageSize=100');
      const ids = list.body.data.workspaces.map((w: { workspaceId: string }) => w.workspaceId);
      for (const id of ['ws-default', 'ws-acme', generated.body.data.workspaceId]) assert.ok(ids.includes(id), id);
      assert.equal(list.body.data.total, ids.length);
      const missing = await admin('GET', '/v1/workspaces/ws-nope');
      assert.equal(missing.status, 404);
      assert.equal(missing.body.errCode, 'WORKSPACE_NOT_FOUND');
    });

    it('a canvasId used in one workspace is free in another, and nothing of the other is visible', async () => {
      const acmeKey = (await admin('POST', '/v1/workspaces/ws-acme/api-keys', {})).body.data.secret as string;
      const mine = await t.api('POST', '/v1/workflows', { body: orders('default orders') });
      assert.equal(mine.status, 201);
      const theirs = await t.api('POST', '/v1/workflows', { key: acmeKey, body: orders('acme orders') });
      assert.equal(theirs.status, 201, 'creating an id another workspace holds is not refused (no existence leak)');
      assert.equal((await t.api('GET', '/v1/workflows/c-orders')).body.data.title, 'default orders');
      assert.equal((await t.api('GET', '/v1/workflows/c-orders', { key: acmeKey })).body.data.title, 'acme orders');

      const run = await t.api('POST', '/v1/openapi/workflow/c-orders/run', { body: {} });
      const done = await waitDone(t, run.body.data.executionId);
      assert.equal(done.status, 'finish');
      const out = await t.api('GET', `/v1/openapi/workflow/${run.body.data.executionId}/output`);
      assert.match(JSON.stringify(out.body.data), /default orders/);
      const peek = await t.api('GET', `/v1/openapi/workflow/${run.body.data.executionId}/status`, { key: acmeKey });
      assert.equal(peek.status, 404);

      const acmeRun = await t.api('POST', '/v1/openapi/workflow/c-orders/run', { key: acmeKey, body: {} });
      const acmeOut = await waitDone(t, acmeRun.body.data.executionId, acmeKey);
      assert.equal(acmeOut.status, 'finish');
      const acmeOutput = await t.api('GET', `/v1/openapi/workflow/${acmeRun.body.data.executionId}/output`, { key: acmeKey });
      assert.match(JSON.stringify(acmeOutput.body.data), /acme orders/, 'the run used its own workspace\'s definition');
    });

    it('a disabled workspace answers 403 WORKSPACE_DISABLED to its keys and webhooks until enabled again', async () => {
      const acmeKey = (await admin('POST', '/v1/workspaces/ws-acme/api-keys', { scopes: ['admin'] })).body.data.secret as string;
      const hook = await t.api('POST', '/v1/webhook/enable', { key: acmeKey, body: { canvasId: 'c-orders' } });
      const webhookId = hook.body.data.webhookId as string;

      const off = await admin('PATCH', '/v1/workspaces/ws-acme', { disabled: true });
      assert.equal(off.body.data.disabled, true);
      assert.ok(off.body.data.disabledAt);
      const denied = await t.api('GET', '/v1/workflows', { key: acmeKey });
      assert.equal(denied.status, 403);
      assert.equal(denied.body.errCode, 'WORKSPACE_DISABLED');
      const call = await t.api('POST', `/v1/openapi/webhook/${webhookId}/run`, { key: null, body: {} });
      assert.equal(call.status, 403);
      assert.equal(call.body.errCode, 'WORKSPACE_DISABLED');
      assert.equal((await t.api('GET', '/v1/workflows')).status, 200, 'other workspaces are untouched');

      const on = await admin('PATCH', '/v1/workspaces/ws-acme', { disabled: false, name: 'Acme Inc' });
      assert.equal(on.body.data.disabled, false);
      assert.equal(on.body.data.name, 'Acme Inc');
      assert.equal((await t.api('GET', '/v1/workflows', { key: acmeKey })).status, 200);
      const accepted = await t.api('POST', `/v1/openapi/webhook/${webhookId}/run`, { key: null, body: {} });
      assert.equal(accepted.status, 200, JSON.stringify(accepted.body));
    });
  });
}
