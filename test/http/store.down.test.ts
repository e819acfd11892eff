import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { STORE_KINDS } from '../helpers/stores.ts';

for (const kind of STORE_KINDS) {
  describe(`a dead store (${kind})`, () => {
    let t: TestServer;
    before(async () => {
      t = await startTestServer(kind, { workflowsPath: 'examples/workflows' });
      await t.server.worker?.stop(0);
      await t.server.dispatcher?.stop(0);
      await t.server.store.close();
    });
    after(async () => {
      await t.server.app.close();
      await t.target.cleanup(false);
    });

    it('answers 503 SERVICE_UNAVAILABLE with Retry-After and no internals; readyz says not ready', async () => {
      const r = await t.api('POST', '/v1/openapi/workflow/c-feedback-triage/run', { body: { variables: { feedback: 'x' } } });
      assert.equal(r.status, 503);
      assert.equal(r.body.errCode, 'SERVICE_UNAVAILABLE');
      assert.equal(r.body.errMsg, 'Store unreachable');
      assert.equal(r.headers.get('retry-after'), '1');
      assert.ok(!JSON.stringify(r.body).includes('destroyed'), 'no driver details leak');
      const ready = await t.api('GET', '/readyz', { key: null });
      assert.equal(ready.status, 503);
      assert.equal((await t.api('GET', '/healthz', { key: null })).status, 200);
    });
  });
}
