import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { fakeServer, type FakeServer } from '../helpers/fakes.ts';
import { ADMIN_KEY, startTestServer, waitDone, type TestServer } from '../helpers/server.ts';

/**
 * Refly's published schema (test/fixtures/refly) against every answer of the Refly-compatible paths
 * in a full run-through: strict Ajv, extra fields allowed, no missing required field, no type change,
 * no enum value the schema does not list — what a client generated from Refly's schema decodes.
 */
const doc = JSON.parse(readFileSync(new URL('../fixtures/refly/openapi-subset.json', import.meta.url), 'utf8')) as {
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: unknown }> }>; requestBody?: { content: Record<string, { examples?: Record<string, { value: unknown }> }> } }>>;
  components: { schemas: Record<string, unknown> };
};

// Extra fields are allowed: Flowgate adds its own next to Refly's.
const schemas = JSON.parse(JSON.stringify(doc.components.schemas).replaceAll('#/components/schemas/', 'refly#/$defs/').replaceAll('"additionalProperties":false', '"additionalProperties":true'));
const ajv = new Ajv({ strict: true, allErrors: true });
addFormats.default(ajv);
ajv.addKeyword('x-i18n-description');
ajv.addKeyword('example');
ajv.addSchema({ $id: 'refly', $defs: schemas });
const validators = new Map<string, ValidateFunction>();
/** `res` must be a 200 whose body matches the 200 schema of `method path` in Refly's document. */
function check(method: string, path: string, res: { status: number; body: unknown }): void {
  const key = `${method} ${path}`;
  assert.equal(res.status, 200, `${key}: ${JSON.stringify(res.body).slice(0, 400)}`);
  const body = res.body;
  let v = validators.get(key);
  if (!v) {
    const schema = doc.paths[path]?.[method]?.responses['200']?.content?.['application/json']?.schema;
    assert.ok(schema, `no 200 schema for ${key}`);
    v = ajv.compile(JSON.parse(JSON.stringify(schema).replaceAll('#/components/schemas/', 'refly#/$defs/')));
    validators.set(key, v);
  }
  assert.ok(v(body), `${key} does not match Refly's schema: ${ajv.errorsText(v.errors)}\n${JSON.stringify(body).slice(0, 800)}`);
}

const EVERY_KIND = {
  canvasId: 'c-refly-all',
  title: 'Every kind',
  variables: [
    { name: 'input', variableType: 'string', required: true },
    { name: 'choice', variableType: 'option', options: ['a', 'b'] },
    { name: 'doc', variableType: 'resource' },
    { name: 'count', variableType: 'number' },
    { name: 'flag', variableType: 'boolean' },
    { name: 'extra', variableType: 'json' },
  ],
  tasks: [
    { id: 'prep', kind: 'transform', expression: '{"n": $count($string(variables.input))}' },
    { id: 'gate', kind: 'condition', dependentTasks: ['prep'], expression: 'false' },
    { id: 'never', kind: 'transform', dependentTasks: ['gate'], expression: '1' },
    // Behind the false condition: skipped, never run.
    { id: 'call', kind: 'http', dependentTasks: ['gate'], request: { url: 'http://127.0.0.1:9/unused' } },
    { id: 'ask', kind: 'agent', dependentTasks: ['gate'], prompt: 'unused' },
    { id: 'out', kind: 'output', dependentTasks: ['prep'], value: '{{ tasks.prep.output }}' },
  ],
};

describe("Refly's published schema, on every Refly-compatible answer", () => {
  let t: TestServer;
  let files: FakeServer;
  before(async () => {
    t = await startTestServer('sqlite', { allowPrivateNetworks: true });
    files = await fakeServer((_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'text/csv', 'content-disposition': 'attachment; filename="report.csv"' }).end('a,b\n1,2\n');
    });
  });
  after(async () => {
    await t.close();
    await files.close();
  });

  it('run, status with a skipped node, output, abort, workflows list and detail, upload, webhooks', async () => {
    const created = await t.api('POST', '/v1/workflows', { body: EVERY_KIND });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const form = new FormData();
    form.append('files', new Blob(['hello'], { type: 'text/plain' }), 'a.txt');
    const up = await fetch(`${t.url}/v1/openapi/files/upload`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}` }, body: form });
    const upBody = (await up.json()) as { data: { files: { fileKey: string }[] } };
    check('post', '/openapi/files/upload', { status: up.status, body: upBody });
    const fileKey = upBody.data.files[0].fileKey as string;

    const run = await t.api('POST', '/v1/openapi/workflow/c-refly-all/run', { body: { variables: { input: 'hi', choice: 'a', doc: fileKey, count: 2, flag: true, extra: { a: 1 } } } });
    check('post', '/openapi/workflow/{canvasId}/run', run);
    const id = run.body.data.executionId as string;
    await waitDone(t, id);
    check('get', '/openapi/workflow/{executionId}/status', await t.api('GET', `/v1/openapi/workflow/${id}/status`));
    check('get', '/openapi/workflow/{executionId}/output', await t.api('GET', `/v1/openapi/workflow/${id}/output`));
    check('post', '/openapi/workflow/{executionId}/abort', await t.api('POST', `/v1/openapi/workflow/${id}/abort`));

    // An output with files: an http task's response saved as a file.
    const withFile = await t.api('POST', '/v1/workflows', {
      body: { title: 'Report', tasks: [{ id: 'fetch', kind: 'http', request: { url: `${files.url}/report.csv` }, saveAs: 'file' }, { id: 'out', kind: 'output', dependentTasks: ['fetch'], value: '{{ tasks.fetch.output.status }}' }] },
    });
    const reportRun = await t.api('POST', `/v1/openapi/workflow/${withFile.body.data.canvasId}/run`, { body: {} });
    assert.equal((await waitDone(t, reportRun.body.data.executionId)).status, 'finish');
    const reportOut = await t.api('GET', `/v1/openapi/workflow/${reportRun.body.data.executionId}/output`);
    assert.ok(reportOut.body.data.files.length >= 1, JSON.stringify(reportOut.body.data));
    check('get', '/openapi/workflow/{executionId}/output', reportOut);

    for (const order of ['creationAsc', 'creationDesc', 'updationAsc', 'updationDesc']) {
      check('get', '/openapi/workflows', await t.api('GET', `/v1/openapi/workflows?order=${order}&pageSize=1000`));
    }
    check('get', '/openapi/workflows/{canvasId}', await t.api('GET', '/v1/openapi/workflows/c-refly-all'));

    check('get', '/webhook/config', await t.api('GET', '/v1/webhook/config?canvasId=c-refly-all'));
    const enabled = await t.api('POST', '/v1/webhook/enable', { body: { canvasId: 'c-refly-all' } });
    check('post', '/webhook/enable', enabled);
    const webhookId = enabled.body.data.webhookId as string;
    check('get', '/webhook/config', await t.api('GET', '/v1/webhook/config?canvasId=c-refly-all'));
    check('post', '/webhook/update', await t.api('POST', '/v1/webhook/update', { body: { webhookId, timeout: 5 } }));
    const hooked = await t.api('POST', `/v1/openapi/webhook/${webhookId}/run`, { key: null, body: { variables: { input: 'from a webhook' } } });
    check('post', '/openapi/webhook/{webhookId}/run', hooked);
    await t.api('POST', `/v1/openapi/webhook/${webhookId}/run`, { key: null, raw: '{not json', headers: { 'content-type': 'application/json' } });
    let history = await t.api('GET', `/v1/webhook/history?webhookId=${webhookId}&pageSize=1000`);
    for (let i = 0; i < 50 && !(history.body.data?.total >= 2); i++) {
      await new Promise((r) => setTimeout(r, 20));
      history = await t.api('GET', `/v1/webhook/history?webhookId=${webhookId}&pageSize=1000`);
    }
    check('get', '/webhook/history', history);
    const reset = await t.api('POST', '/v1/webhook/reset', { body: { webhookId } });
    check('post', '/webhook/reset', reset);
    check('post', '/webhook/disable', await t.api('POST', '/v1/webhook/disable', { body: { webhookId: reset.body.data.webhookId } }));
  });

  it("Flowgate's /openapi.json has every Refly path under /v1 with Refly's parameter names and methods", async () => {
    const ours = (await t.api('GET', '/openapi.json', { key: null })).body as { paths: Record<string, Record<string, { parameters?: { in: string; name: string }[] }>> };
    for (const [path, ops] of Object.entries(doc.paths)) {
      const mine = ours.paths[`/v1${path}`];
      assert.ok(mine, `missing /v1${path}`);
      for (const method of Object.keys(ops).filter((m) => ['get', 'post', 'put', 'delete', 'patch'].includes(m))) {
        assert.ok(mine[method], `missing ${method.toUpperCase()} /v1${path}`);
        const named = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
        const pathParams = (mine[method]!.parameters ?? []).filter((x) => x.in === 'path').map((x) => x.name);
        assert.deepEqual(pathParams, named, `${method.toUpperCase()} /v1${path}`);
      }
    }
  });

  it("Refly's own request examples are accepted (fileKeys as strings, arrays and Refly's resource object)", async () => {
    const vars = ['input', 'userId', 'variable1'].map((name) => ({ name, variableType: 'string' })).concat(['files', 'resource'].map((name) => ({ name, variableType: 'resource' })));
    const wf = await t.api('POST', '/v1/workflows', { body: { canvasId: 'c-refly-examples', title: 'Examples', variables: vars, tasks: [{ id: 'out', kind: 'output', value: 1 }] } });
    assert.equal(wf.status, 201, JSON.stringify(wf.body));
    const hook = await t.api('POST', '/v1/webhook/enable', { body: { canvasId: 'c-refly-examples' } });
    const form = new FormData();
    for (const name of ['x.txt', 'y.txt', 'r.txt']) form.append('files', new Blob([name], { type: 'text/plain' }), name);
    const up = (await (await fetch(`${t.url}/v1/openapi/files/upload`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}` }, body: form })).json()) as { data: { files: { fileKey: string }[] } };
    const [x, y, r] = up.data.files.map((f) => f.fileKey);
    // The examples name files that do not exist here; the shapes are what is checked.
    const real = (v: unknown) => JSON.parse(JSON.stringify(v).replaceAll('of_xxx', x!).replaceAll('of_yyy', y!).replaceAll('res_xxx', r!));
    const examples = (path: string) => Object.entries(doc.paths[path]!.post!.requestBody!.content['application/json']!.examples ?? {});
    for (const [, ex] of examples('/openapi/workflow/{canvasId}/run')) {
      check('post', '/openapi/workflow/{canvasId}/run', await t.api('POST', '/v1/openapi/workflow/c-refly-examples/run', { body: real(ex.value) }));
    }
    for (const [, ex] of examples('/openapi/webhook/{webhookId}/run')) {
      check('post', '/openapi/webhook/{webhookId}/run', await t.api('POST', `/v1/openapi/webhook/${hook.body.data.webhookId}/run`, { key: null, body: real(ex.value) }));
    }
    const wrongShape = await t.api('POST', '/v1/openapi/workflow/c-refly-examples/run', { body: { variables: 'x' } });
    assert.equal(wrongShape.body.errCode, 'INVALID_REQUEST_BODY', 'a body of the wrong shape, as Refly documents');
  });
});
