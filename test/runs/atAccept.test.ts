import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config.ts';
import { settleAtAccept } from '../../src/engine/atAccept.ts';
import type { NewExecution } from '../../src/store/store.ts';
import type { WorkflowDefinition } from '../../src/workflows/definition.ts';
import { receiver, until, type Receiver } from '../delivery/receiver.ts';
import { fakeServer, json, type FakeServer } from '../helpers/fakes.ts';
import { startTestServer, waitDone, type TestServer } from '../helpers/server.ts';
import { STORE_KINDS } from '../helpers/stores.ts';

/** Runs of expression tasks only, evaluated and committed finished by their accept (engine/atAccept.ts). */
const config = loadConfig({}, { allowPrivateNetworks: true });
const execution = (variables: Record<string, unknown> = {}): NewExecution => ({
  executionId: 'we-at-accept',
  workspaceId: 'ws-default',
  canvasId: 'c-at-accept',
  version: 1,
  trigger: 'api',
  variables,
  nodes: [],
  now: 1_000,
  deadlineAt: 2_000,
});
const workflow = (tasks: unknown[]): WorkflowDefinition => ({ title: 'at accept', tasks }) as WorkflowDefinition;

describe('expression-only runs at accept (engine)', () => {
  it('settles a DAG of expression tasks, skipping the dead branch, and ends the run', async () => {
    const s = await settleAtAccept(
      workflow([
        { id: 'n', kind: 'transform', expression: 'variables.x * 2' },
        { id: 'big', kind: 'condition', dependentTasks: ['n'], expression: 'tasks.n.output > 10' },
        { id: 'alarm', kind: 'transform', dependentTasks: ['big'], expression: '"big"' },
        { id: 'out', kind: 'output', dependentTasks: ['n', 'alarm'], value: { n: '{{ tasks.n.output }}', alarm: '{{ tasks.alarm.output }}' } },
      ]),
      execution({ x: 2 }),
      config,
    );
    assert.equal(s?.status, 'finish');
    assert.deepEqual(
      s?.nodes.map((n) => [n.nodeId, n.status]),
      [['n', 'finish'], ['big', 'finish'], ['alarm', 'skipped'], ['out', 'finish']],
    );
    assert.deepEqual(s?.nodes.find((n) => n.nodeId === 'out'), { nodeId: 'out', status: 'finish', output: { n: 4, alarm: null }, messages: undefined });
    // Skips decided by the advance that ends the run are recorded too.
    const dead = await settleAtAccept(workflow([{ id: 'c', kind: 'condition', expression: 'false' }, { id: 'out', kind: 'output', dependentTasks: ['c'], value: 1 }]), execution(), config);
    assert.deepEqual([dead?.status, dead?.nodes.map((n) => [n.nodeId, n.status])], ['finish', [['c', 'finish'], ['out', 'skipped']]]);
  });

  it('leaves a workflow with any other task to the queue, even on a branch that would be skipped', async () => {
    const s = await settleAtAccept(
      workflow([
        { id: 'prep', kind: 'transform', expression: '{"n": variables.x}' },
        { id: 'never', kind: 'condition', dependentTasks: ['prep'], expression: 'false' },
        { id: 'call', kind: 'http', dependentTasks: ['never'], request: { method: 'POST', url: 'http://127.0.0.1:1/x' } },
        { id: 'out', kind: 'output', dependentTasks: ['prep'], value: '{{ tasks.prep.output }}' },
      ]),
      execution({ x: 1 }),
      config,
    );
    assert.equal(s, undefined);
  });

  it('fails the run on an expression error, and evaluates nothing after it', async () => {
    const s = await settleAtAccept(
      workflow([
        { id: 'bad', kind: 'transform', expression: '$error("boom")' },
        { id: 'ok', kind: 'transform', expression: '1' },
        { id: 'after', kind: 'output', dependentTasks: ['bad'], value: 1 },
      ]),
      execution(),
      config,
    );
    assert.equal(s?.status, 'failed');
    assert.equal(s?.errCode, 'EXPRESSION_ERROR');
    assert.match(s?.errMsg ?? '', /Task "bad" failed/);
    assert.deepEqual(s?.nodes.map((n) => [n.nodeId, n.status]), [['bad', 'failed'], ['ok', 'finish']], '"after" stays init, as a worker leaves it');
  });

  it('leaves a run to the queue when a task reads files', async () => {
    // $fileText reads the disk and the store: never inside an accept.
    assert.equal(await settleAtAccept(workflow([{ id: 't', kind: 'transform', expression: '$fileText(variables.f)' }]), execution(), config), undefined);
  });
});

for (const kind of STORE_KINDS) {
  describe(`expression-only runs at accept (${kind})`, () => {
    let t: TestServer;
    let rx: Receiver;
    let api: FakeServer;
    const calls: unknown[] = [];
    before(async () => {
      rx = await receiver();
      api = await fakeServer((_req, body, res) => {
        calls.push(JSON.parse(body));
        json(res, 200, { ok: true });
      });
      t = await startTestServer(kind, { allowPrivateNetworks: true });
      const ep = await t.api('POST', '/v1/event-endpoints', { body: { url: `${rx.url}/hook` } });
      assert.equal(ep.status, 201, JSON.stringify(ep.body));
      rx.secrets.push(ep.body.data.secret);
    });
    after(async () => {
      await t.close();
      await rx.close();
      await api.close();
    });
    const create = async (tasks: unknown[]) => (await t.api('POST', '/v1/workflows', { body: { title: 'at accept', variables: [{ name: 'x', variableType: 'json' }], tasks } })).body.data.canvasId as string;
    const eventsOf = async (executionId: string, last: string) => {
      await until(() => rx.deliveries.some((d) => d.type === last && d.data.executionId === executionId), 10_000, last);
      return rx.deliveries.filter((d) => d.data.executionId === executionId).map((d) => d.type);
    };

    it('a webhook run of expression tasks is finished when answered, with its attempts, history and events committed', async () => {
      const canvasId = await create([
        { id: 'twice', kind: 'transform', expression: 'variables.x * 2' },
        { id: 'answer', kind: 'output', dependentTasks: ['twice'], value: '{{ tasks.twice.output }}' },
      ]);
      const wh = (await t.api('POST', '/v1/webhook/enable', { body: { canvasId } })).body.data;
      const r = await t.api('POST', `/v1/openapi/webhook/${wh.webhookId}/run`, { body: { variables: { x: 21 } }, key: null });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.data.status, 'finish');
      const id = r.body.data.executionId as string;
      // Already stored as finished: no worker had to touch it.
      const e = await t.server.store.runs.getExecution('ws-default', id);
      assert.equal(e?.status, 'finish');
      assert.equal(e?.startedAt, e?.createdAt);
      const attempts = await t.server.store.runs.listAttempts(id);
      assert.deepEqual(attempts.map((a) => [a.nodeId, a.attempt, a.status, a.workerId]), [['answer', 1, 'finish', 'accept'], ['twice', 1, 'finish', 'accept']]);
      const out = await t.api('GET', `/v1/openapi/workflow/${id}/output`);
      assert.deepEqual(out.body.data.output.map((o: { value: unknown }) => o.value), [42]);
      assert.deepEqual(await eventsOf(id, 'execution.finished'), ['webhook.received', 'execution.started', 'node.finished', 'node.finished', 'execution.finished']);
      // All in one millisecond: the timeline lists the attempts in the workflow's order, not by node id.
      const timeline = (await t.api('GET', `/v1/openapi/workflow/${id}/timeline`)).body.data.timeline as { type: string; nodeId?: string }[];
      assert.deepEqual(timeline.filter((x) => x.type === 'node.attempt').map((x) => x.nodeId), ['twice', 'answer']);
      const h = (await t.api('GET', `/v1/webhook/history?webhookId=${wh.webhookId}`)).body.data;
      assert.deepEqual([h.records[0].executionId, h.records[0].status], [id, 'success']);
    });

    it('a run with an http task is answered init and run by a worker, its expression tasks included', async () => {
      const canvasId = await create([
        { id: 'prep', kind: 'transform', expression: '{"n": variables.x}' },
        { id: 'call', kind: 'http', dependentTasks: ['prep'], request: { method: 'POST', url: `${api.url}/calls`, body: '{{ tasks.prep.output }}' } },
        { id: 'out', kind: 'output', dependentTasks: ['call'], value: '{{ tasks.call.output.body.ok }}' },
      ]);
      const r = await t.api('POST', `/v1/openapi/workflow/${canvasId}/run`, { body: { variables: { x: 7 } } });
      assert.equal(r.body.data.status, 'init');
      const done = await waitDone(t, r.body.data.executionId);
      assert.equal(done.status, 'finish');
      assert.ok(calls.some((c) => JSON.stringify(c) === '{"n":7}'));
      const out = await t.api('GET', `/v1/openapi/workflow/${r.body.data.executionId}/output`);
      assert.deepEqual(out.body.data.output.map((o: { value: unknown }) => o.value), [true]);
      const attempts = await t.server.store.runs.listAttempts(r.body.data.executionId);
      assert.ok(attempts.every((a) => a.workerId !== 'accept'), 'no task of it was evaluated by the accept');
      const types = await eventsOf(r.body.data.executionId, 'execution.finished');
      assert.deepEqual(types, ['execution.started', 'node.finished', 'node.finished', 'node.finished', 'execution.finished']);
    });

    it('an expression error fails the run at accept with its error, and a replay of the key evaluates nothing again', async () => {
      const canvasId = await create([{ id: 'bad', kind: 'transform', expression: '$error("no " & variables.x)' }]);
      const send = () => t.api('POST', `/v1/openapi/workflow/${canvasId}/run`, { body: { variables: { x: 'way' } }, headers: { 'idempotency-key': `at-accept-${kind}` } });
      const r = await send();
      assert.equal(r.body.data.status, 'failed');
      const status = await t.api('GET', `/v1/openapi/workflow/${r.body.data.executionId}/status`);
      assert.equal(status.body.data.status, 'failed');
      assert.equal(status.body.data.nodeExecutions[0].errCode, 'EXPRESSION_ERROR');
      assert.match(status.body.data.nodeExecutions[0].errorMessage, /no way/);
      assert.deepEqual(await eventsOf(r.body.data.executionId, 'execution.failed'), ['execution.started', 'node.failed', 'execution.failed']);
      const again = await send();
      assert.deepEqual([again.body.data.executionId, again.body.data.status, again.headers.get('idempotent-replayed')], [r.body.data.executionId, 'failed', 'true']);
      assert.equal((await t.server.store.runs.listAttempts(r.body.data.executionId)).length, 1);
    });
  });
}
