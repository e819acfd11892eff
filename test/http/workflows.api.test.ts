import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { hashSecret } from '../../src/http/auth.ts';
import { ADMIN_KEY, startTestServer, type TestServer } from '../helpers/server.ts';
import { STORE_KINDS } from '../helpers/stores.ts';

const triage = JSON.parse(readFileSync(new URL('../../examples/workflows/feedback-triage.json', import.meta.url), 'utf8'));
const { canvasId: _ignored, ...triageNoId } = triage;

for (const kind of STORE_KINDS) {
  describe(`workflow management and catalog (${kind})`, () => {
    let t: TestServer;
    const OTHER_KEY = 'fg_other_workspace_key_000000000000';
    before(async () => {
      t = await startTestServer(kind);
      await t.server.store.catalog.ensureWorkspace('ws-other', Date.now());
      await t.server.store.catalog.createApiKey({ id: 'ak-other', workspaceId: 'ws-other', name: 'other', prefix: 'fg_othe', secretHash: hashSecret(OTHER_KEY), scopes: ['admin'], createdAt: 1 });
    });
    after(() => t.close());

    it('creates, reads, versions, lists and deletes a workflow', async () => {
      const created = await t.api('POST', '/v1/workflows', { body: triageNoId });
      assert.equal(created.status, 201);
      assert.equal(created.body.success, true);
      assert.match(created.headers.get('x-trace-id') ?? '', /^[0-9a-f]{16}$/);
      assert.equal(created.body.traceId, created.headers.get('x-trace-id'));
      const id = created.body.data.canvasId;
      assert.match(id, /^c-/);
      assert.equal(created.body.data.version, 1);

      const updated = await t.api('PUT', `/v1/workflows/${id}`, { body: { ...triageNoId, title: 'Triage v2' } });
      assert.equal(updated.status, 200);
      assert.equal(updated.body.data.version, 2);
      const read = await t.api('GET', `/v1/workflows/${id}`);
      assert.equal(read.body.data.title, 'Triage v2');
      const same = await t.api('PUT', `/v1/workflows/${id}`, { body: { ...triageNoId, title: 'Triage v2' } });
      assert.equal(same.status, 200);
      assert.deepEqual([same.body.data.version, same.body.data.unchanged], [2, true], 'the same definition again is not a new version');

      const list = await t.api('GET', '/v1/workflows?pageSize=10');
      assert.ok(list.body.data.workflows.some((w: { canvasId: string }) => w.canvasId === id));

      const refly = await t.api('GET', '/v1/openapi/workflows?keyword=v2&order=creationDesc&page=1&pageSize=5');
      assert.deepEqual(refly.body.data, [{ canvasId: id, title: 'Triage v2' }]);
      const one = await t.api('GET', `/v1/openapi/workflows/${id}`);
      assert.equal(one.body.data.tasks.length, 5);
      const cond = one.body.data.tasks[1];
      assert.deepEqual({ ...cond, prompt: undefined }, { id: 'isUrgent', title: 'Urgent?', kind: 'condition', prompt: undefined, toolsets: [], dependentTasks: ['normalize'] });
      assert.match(cond.prompt, /^condition: /, "Refly requires a prompt on every task: what the task does");
      assert.deepEqual(one.body.data.variables[1], { name: 'tone', variableType: 'option', required: false, options: ['formal', 'casual'], default: 'formal' });

      const schema = await t.api('GET', `/v1/openapi/workflows/${id}/schema`);
      assert.equal(schema.body.data.properties.tone.enum.length, 2);
      assert.deepEqual(schema.body.data.required, ['feedback']);
      const doc = await t.api('GET', `/v1/openapi/workflows/${id}/openapi.json`);
      assert.equal(doc.status, 200);
      assert.match(doc.body.openapi, /^3\.1/);
      assert.ok(doc.body.paths[`/v1/openapi/workflow/${id}/run`]);

      assert.equal((await t.api('DELETE', `/v1/workflows/${id}`)).status, 200);
      const gone = await t.api('GET', `/v1/workflows/${id}`);
      assert.equal(gone.status, 404);
      assert.equal(gone.body.errCode, 'CANVAS_NOT_FOUND');
    });

    it('accepts YAML definitions', async () => {
      const yaml = readFileSync(new URL('../../examples/more/classify-and-notify.yaml', import.meta.url), 'utf8');
      const r = await t.api('POST', '/v1/workflows', { raw: yaml, headers: { 'content-type': 'application/yaml' } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      assert.equal(r.body.data.canvasId, 'c-classify-and-notify');
    });

    it('rejects invalid definitions naming task and field', async () => {
      const bad = {
        title: 'Bad',
        tasks: [
          { id: 'a', kind: 'transform', expression: 'variables.nope' },
          { id: 'b', kind: 'transform', expression: '1 +', dependentTasks: ['a', 'ghost'] },
        ],
      };
      const r = await t.api('POST', '/v1/workflows', { body: bad });
      assert.equal(r.status, 400);
      assert.equal(r.body.errCode, 'INVALID_WORKFLOW');
      const errors: { task?: string; field: string }[] = r.body.data.errors;
      assert.ok(errors.some((e) => e.task === 'a'), JSON.stringify(errors));
      assert.ok(errors.some((e) => e.task === 'b'), JSON.stringify(errors));
      const cycle = await t.api('POST', '/v1/workflows', {
        body: { title: 'Cycle', tasks: [{ id: 'x', kind: 'transform', expression: '1', dependentTasks: ['y'] }, { id: 'y', kind: 'transform', expression: '1', dependentTasks: ['x'] }] },
      });
      assert.equal(cycle.body.errCode, 'INVALID_WORKFLOW');
      const notObject = await t.api('POST', '/v1/workflows', { body: [1, 2] });
      assert.equal(notObject.status, 400);
    });

    it('an unknown task kind or variable type is one error listing the allowed values', async () => {
      const kind = await t.api('POST', '/v1/workflows', { body: { title: 'K', tasks: [{ id: 'a', kind: 'magic' }] } });
      assert.deepEqual(kind.body.data.errors, [{ field: 'tasks[0].kind', message: 'must be one of "agent", "http", "transform", "condition", "output"' }]);
      const type = await t.api('POST', '/v1/workflows', {
        body: { title: 'V', variables: [{ name: 'when', variableType: 'date' }], tasks: [{ id: 'a', kind: 'transform', expression: '1' }] },
      });
      assert.deepEqual(type.body.data.errors, [{ field: 'variables[0].variableType', message: 'must be one of "string", "option", "resource", "number", "boolean", "json"' }]);
      assert.match(type.body.errMsg, /^1 problem in the definition; first: variables\[0\]\.variableType must be one of/);
    });

    it('keeps workspaces apart: another workspace gets 404, not 403', async () => {
      const mine = await t.api('POST', '/v1/workflows', { body: { ...triageNoId, title: 'Mine' } });
      const id = mine.body.data.canvasId;
      for (const path of [`/v1/workflows/${id}`, `/v1/openapi/workflows/${id}`, `/v1/openapi/workflows/${id}/schema`]) {
        const r = await t.api('GET', path, { key: OTHER_KEY });
        assert.equal(r.status, 404, path);
        assert.equal(r.body.errCode, 'CANVAS_NOT_FOUND');
      }
      const list = await t.api('GET', '/v1/openapi/workflows', { key: OTHER_KEY });
      assert.deepEqual(list.body.data, []);
      assert.equal((await t.api('GET', `/v1/workflows/${id}`, { key: ADMIN_KEY })).status, 200);
    });

    it('manages API keys: secret once, scopes enforced, revocation', async () => {
      const created = await t.api('POST', '/v1/api-keys', { body: { name: 'reader', scopes: ['read'] } });
      assert.equal(created.status, 201);
      const secret: string = created.body.data.secret;
      assert.match(secret, /^fg_[A-Za-z0-9]{32}$/);
      const listed = await t.api('GET', '/v1/api-keys');
      assert.ok(!JSON.stringify(listed.body).includes(secret), 'list never shows secrets');
      assert.equal((await t.api('GET', '/v1/openapi/workflows', { key: secret })).status, 200);
      const forbidden = await t.api('POST', '/v1/workflows', { body: triageNoId, key: secret });
      assert.equal(forbidden.status, 403);
      assert.equal(forbidden.body.errCode, 'FORBIDDEN');
      assert.equal((await t.api('DELETE', `/v1/api-keys/${created.body.data.id}`)).status, 200);
      const revoked = await t.api('GET', '/v1/openapi/workflows', { key: secret });
      assert.equal(revoked.status, 401);
      assert.equal(revoked.body.errCode, 'UNAUTHORIZED');
    });

    it('accepts the key as Bearer, X-API-Key and X-Refly-Api-Key; rejects none or wrong', async () => {
      for (const h of ['x-api-key', 'x-refly-api-key']) {
        assert.equal((await t.api('GET', '/v1/openapi/workflows', { key: null, headers: { [h]: ADMIN_KEY } })).status, 200, h);
      }
      const none = await t.api('GET', '/v1/openapi/workflows', { key: null });
      assert.equal(none.status, 401);
      assert.equal(none.body.success, false);
      assert.equal(none.body.errCode, 'UNAUTHORIZED');
      assert.equal((await t.api('GET', '/v1/openapi/workflows', { key: 'fg_wrong' })).status, 401);
    });
  });
}
