import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { hashSecret } from '../../src/http/auth.ts';
import { startTestServer, waitDone, type TestServer } from '../helpers/server.ts';
import { STORE_KINDS } from '../helpers/stores.ts';

const ID = 'c-feedback-triage';
const run = (t: TestServer, body: unknown, opts: { headers?: Record<string, string>; query?: string; key?: string } = {}) =>
  t.api('POST', `/v1/openapi/workflow/${ID}/run${opts.query ?? ''}`, { body, headers: opts.headers, key: opts.key });

for (const kind of STORE_KINDS) {
  describe(`run API (${kind})`, () => {
    let t: TestServer;
    const RUN_ONLY = 'fg_run_only_key_00000000000000000000';
    const OTHER_WS = 'fg_other_ws_key_00000000000000000000';
    before(async () => {
      t = await startTestServer(kind, { workflowsPath: 'examples/workflows' });
      const store = t.server.store;
      await store.catalog.createApiKey({ id: 'ak-run', workspaceId: 'ws-default', name: 'run', prefix: 'fg_run_', secretHash: hashSecret(RUN_ONLY), scopes: ['run'], createdAt: 1 });
      await store.catalog.ensureWorkspace('ws-x', 1);
      await store.catalog.createApiKey({ id: 'ak-x', workspaceId: 'ws-x', name: 'x', prefix: 'fg_othe', secretHash: hashSecret(OTHER_WS), scopes: ['admin'], createdAt: 1 });
    });
    after(() => t.close());

    it('runs, reports status with every node and attempt, and returns the output', async () => {
      const r = await run(t, { variables: { feedback: 'The site is DOWN again ' } });
      assert.equal(r.status, 200);
      assert.equal(r.body.success, true);
      assert.match(r.body.data.executionId, /^we-[0-9a-z]{26}$/);
      // Transforms, a condition and an output only: the accept evaluates them all (engine/atAccept.ts).
      assert.equal(r.body.data.status, 'finish');
      const done = await waitDone(t, r.body.data.executionId);
      assert.equal(done.status, 'finish');
      assert.equal(done.trigger, 'api');
      const nodes = Object.fromEntries(done.nodeExecutions.map((n: { nodeId: string; status: string }) => [n.nodeId, n]));
      assert.equal(nodes.isUrgent.status, 'finish');
      assert.equal(nodes.escalation.status, 'finish');
      assert.equal(nodes.normalize.attempts.length, 1);
      assert.equal(nodes.normalize.attempts[0].status, 'finish');
      const out = await t.api('GET', `/v1/openapi/workflow/${r.body.data.executionId}/output`);
      assert.equal(out.status, 200);
      assert.equal(out.body.data.output.length, 1);
      assert.deepEqual(out.body.data.output[0].value, {
        summary: 'Feedback received (5 words)',
        urgent: true,
        escalation: 'Escalate to on-call: the site is down again',
      });
      assert.deepEqual(out.body.data.files, []);
    });

    it('skips the branch behind a false condition', async () => {
      const r = await run(t, { variables: { feedback: 'Love it', tone: 'casual' } }, { query: '?wait=10' });
      assert.equal(r.body.data.status, 'finish');
      assert.deepEqual(r.body.data.output[0].value, { summary: 'Got it! 2 words', urgent: false, escalation: null });
      const status = await t.api('GET', `/v1/openapi/workflow/${r.body.data.executionId}/status`);
      const esc = status.body.data.nodeExecutions.find((n: { nodeId: string }) => n.nodeId === 'escalation');
      // Refly's status vocabulary has no "skipped": it is reported finished, with Flowgate's own fields.
      assert.deepEqual([esc.status, esc.skipped, esc.flowgateStatus], ['finish', true, 'skipped']);
    });

    it('?wait=N returns the finished output in one call', async () => {
      const r = await run(t, { variables: { feedback: 'hello there' } }, { query: '?wait=10' });
      assert.equal(r.status, 200);
      assert.equal(r.body.data.status, 'finish');
      assert.equal(r.body.data.output[0].value.summary, 'Feedback received (2 words)');
    });

    it('rejects bad variables with one error per field, before anything runs', async () => {
      const r = await run(t, { variables: { tone: 'angry', extra: 1, other: 2 } });
      assert.equal(r.status, 400);
      assert.equal(r.body.errCode, 'INVALID_VARIABLES');
      const fields = r.body.data.errors.map((e: { field: string }) => e.field).sort();
      assert.deepEqual(fields, ['variables.extra', 'variables.feedback', 'variables.other', 'variables.tone']);
      const wrongType = await run(t, { variables: { feedback: 42 } });
      assert.equal(wrongType.body.errCode, 'INVALID_VARIABLES');
      const hist = await t.api('GET', `/v1/openapi/workflow/${ID}/executions?limit=100`);
      assert.ok(hist.body.data.records.every((e: { status: string }) => e.status !== 'init' || true));
    });

    it('answers Refly body mistakes with 400 and an example, malformed JSON 400, oversize 413, wrong type 415', async () => {
      const unwrapped = await run(t, { feedback: 'x' });
      assert.equal(unwrapped.status, 400);
      assert.equal(unwrapped.body.errCode, 'INVALID_REQUEST_BODY');
      assert.deepEqual(unwrapped.body.data.example, { variables: { feedback: 'The new dashboard is great' } });
      const malformed = await t.api('POST', `/v1/openapi/workflow/${ID}/run`, { raw: '{"variables":', headers: { 'content-type': 'application/json' } });
      assert.equal(malformed.status, 400);
      assert.equal(malformed.body.errCode, 'INVALID_REQUEST_BODY');
      const big = await t.api('POST', `/v1/openapi/workflow/${ID}/run`, {
        raw: JSON.stringify({ variables: { feedback: 'x'.repeat(1024 * 1024 + 10) } }),
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(big.status, 413);
      assert.equal(big.body.errCode, 'PAYLOAD_TOO_LARGE');
      const xml = await t.api('POST', `/v1/openapi/workflow/${ID}/run`, { raw: '<a/>', headers: { 'content-type': 'application/xml' } });
      assert.equal(xml.status, 415);
      assert.equal(xml.body.errCode, 'UNSUPPORTED_MEDIA_TYPE');
      const empty = await t.api('POST', `/v1/openapi/workflow/${ID}/run`, { raw: '', headers: { 'content-type': 'application/json' } });
      assert.equal(empty.status, 400, 'empty body is allowed, but feedback is required');
      assert.equal(empty.body.errCode, 'INVALID_VARIABLES');
    });

    it('Idempotency-Key: replays the original, 422 on a different body, one run under concurrency', async () => {
      const body = { variables: { feedback: 'idempotent please' } };
      const headers = { 'idempotency-key': `key-${kind}-1` };
      const first = await run(t, body, { headers });
      const second = await run(t, body, { headers });
      assert.equal(second.status, 200);
      assert.equal(second.headers.get('idempotent-replayed'), 'true');
      assert.equal(first.headers.get('idempotent-replayed'), null);
      assert.equal(second.body.data.executionId, first.body.data.executionId);
      const reused = await run(t, { variables: { feedback: 'something else' } }, { headers });
      assert.equal(reused.status, 422);
      assert.equal(reused.body.errCode, 'IDEMPOTENCY_KEY_REUSED');

      const concurrent = await Promise.all(Array.from({ length: 10 }, () => run(t, body, { headers: { 'idempotency-key': `key-${kind}-2` } })));
      const ids = new Set<string>();
      for (const r of concurrent) {
        if (r.status === 409) assert.equal(r.body.errCode, 'IDEMPOTENCY_IN_PROGRESS');
        else {
          assert.equal(r.status, 200);
          ids.add(r.body.data.executionId);
        }
      }
      assert.equal(ids.size, 1, 'exactly one execution for one key');
    });

    it('aborts: the run fails with EXECUTION_ABORTED, and abort is idempotent', async () => {
      // Abort right after accepting; whichever nodes finished stay finished, the rest never start.
      const r = await run(t, { variables: { feedback: 'abort me' } });
      const id = r.body.data.executionId;
      const a1 = await t.api('POST', `/v1/openapi/workflow/${id}/abort`);
      assert.equal(a1.status, 200);
      const done = await waitDone(t, id);
      if (a1.body.data.aborted) {
        assert.equal(done.status, 'failed');
        assert.equal(done.errCode, 'EXECUTION_ABORTED');
      } else {
        assert.equal(done.status, 'finish', 'it had already finished');
      }
      const a2 = await t.api('POST', `/v1/openapi/workflow/${id}/abort`);
      assert.equal(a2.status, 200);
      assert.equal(a2.body.data.aborted, false);
      assert.equal(a2.body.data.status, done.status);
    });

    it('enforces scopes and workspaces, and names missing objects', async () => {
      const ok = await run(t, { variables: { feedback: 'scoped' } }, { key: RUN_ONLY });
      assert.equal(ok.status, 200);
      const read = await t.api('GET', `/v1/openapi/workflow/${ok.body.data.executionId}/status`, { key: RUN_ONLY });
      assert.equal(read.status, 403);
      assert.equal(read.body.errCode, 'FORBIDDEN');
      const other = await t.api('GET', `/v1/openapi/workflow/${ok.body.data.executionId}/status`, { key: OTHER_WS });
      assert.equal(other.status, 404);
      assert.equal(other.body.errCode, 'EXECUTION_NOT_FOUND');
      const otherRun = await run(t, { variables: { feedback: 'x' } }, { key: OTHER_WS });
      assert.equal(otherRun.status, 404);
      assert.equal(otherRun.body.errCode, 'CANVAS_NOT_FOUND');
      const noCanvas = await t.api('POST', '/v1/openapi/workflow/c-nope/run', { body: {} });
      assert.equal(noCanvas.body.errCode, 'CANVAS_NOT_FOUND');
      for (const p of ['status', 'output']) {
        const r = await t.api('GET', `/v1/openapi/workflow/we-00000000000000000000000000/${p}`);
        assert.equal(r.status, 404);
        assert.equal(r.body.errCode, 'EXECUTION_NOT_FOUND');
      }
      const route = await t.api('GET', '/v1/nope');
      assert.equal(route.status, 404);
      assert.equal(route.body.errCode, 'NOT_FOUND');
    });

    it('rejects unknown fileKeys for resource variables with FILE_NOT_FOUND', async () => {
      const wf = await t.api('POST', '/v1/workflows', {
        body: {
          title: 'With file',
          variables: [{ name: 'doc', variableType: 'resource', required: true }],
          tasks: [{ id: 'o', kind: 'output', value: { key: '{{ variables.doc }}' } }],
        },
      });
      assert.equal(wf.status, 201, JSON.stringify(wf.body));
      const r = await t.api('POST', `/v1/openapi/workflow/${wf.body.data.canvasId}/run`, { body: { variables: { doc: 'fk-doesnotexist' } } });
      assert.equal(r.status, 400);
      assert.equal(r.body.errCode, 'FILE_NOT_FOUND');
      assert.match(r.body.errMsg, /variables\.doc/);
    });

    it('refuses runs when the workflow API is disabled', async () => {
      const wf = await t.api('POST', '/v1/workflows', { body: { title: 'Off', apiEnabled: false, tasks: [{ id: 'o', kind: 'output', value: 1 }] } });
      const r = await t.api('POST', `/v1/openapi/workflow/${wf.body.data.canvasId}/run`, { body: {} });
      assert.equal(r.status, 403);
      assert.equal(r.body.errCode, 'WORKFLOW_API_DISABLED');
    });

    it('lists run history newest first with a cursor and filters', async () => {
      for (let i = 0; i < 3; i++) await run(t, { variables: { feedback: `history ${i}` } }, { query: '?wait=10' });
      const page1 = await t.api('GET', `/v1/openapi/workflow/${ID}/executions?limit=2`);
      assert.equal(page1.status, 200);
      assert.equal(page1.body.data.records.length, 2);
      const [a, b] = page1.body.data.records;
      assert.ok(a.executionId > b.executionId);
      const page2 = await t.api('GET', `/v1/openapi/workflow/${ID}/executions?limit=2&cursor=${page1.body.data.nextCursor}`);
      assert.ok(page2.body.data.records[0].executionId < b.executionId);
      const failed = await t.api('GET', `/v1/executions?status=failed&canvasId=${ID}`);
      assert.ok(failed.body.data.records.every((e: { status: string }) => e.status === 'failed'));
      const badFilter = await t.api('GET', `/v1/openapi/workflow/${ID}/executions?status=weird`);
      assert.equal(badFilter.status, 400);
      assert.equal(badFilter.body.errCode, 'INVALID_REQUEST_BODY');
    });
  });
}
