import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { newExecutionId } from '../../src/ids.ts';
import { SCHEDULING_RULES } from '../../src/engine/rules.ts';
import { deliveryRules } from '../../src/delivery/rules.ts';
import type { ClaimedWork, Completion, IdempotencyClaim, NewExecution, Store } from '../../src/store/store.ts';
import type { CompleteMessageInput } from '../../src/store/delivery.ts';
import type { WorkflowDefinition } from '../../src/workflows/definition.ts';
import { freshTarget, STORE_KINDS, type StoreTarget } from '../helpers/stores.ts';

/** Endpoints are never disabled for failing in these tests. */
const RULES = deliveryRules(1e12);

const def: WorkflowDefinition = {
  title: 'Branches',
  tasks: [
    { id: 'a', kind: 'transform', expression: '1' },
    { id: 'gate', kind: 'condition', expression: 'false', dependentTasks: ['a'] },
    { id: 'gated', kind: 'transform', expression: '2', dependentTasks: ['gate'] },
    { id: 'b', kind: 'transform', expression: '3', dependentTasks: ['a'] },
    { id: 'out', kind: 'output', dependentTasks: ['gated', 'b'] },
  ],
};

function newExecution(now: number, over: Partial<NewExecution> = {}): NewExecution {
  return {
    executionId: newExecutionId(now),
    workspaceId: 'ws-1',
    canvasId: 'c-1',
    version: 1,
    trigger: 'api',
    variables: { x: 1 },
    nodes: def.tasks.map((t) => ({ nodeId: t.id, kind: t.kind, deps: t.dependentTasks ?? [] })),
    now,
    deadlineAt: now + 3_600_000,
    ...over,
  };
}

for (const kind of STORE_KINDS) {
  describe(`store conformance (${kind})`, () => {
    let target: StoreTarget;
    let store: Store;
    let failed = false;
    before(async () => {
      target = freshTarget(kind);
      store = target.open();
      await store.migrate();
      await store.migrate(); // a second start applies nothing
      await store.catalog.ensureWorkspace('ws-1', 1);
      await store.catalog.ensureWorkspace('ws-2', 1);
    });
    after(async () => {
      await store.close();
      await target.cleanup(failed);
    });
    // Batches of one, as a caller with a single item uses the batch verbs.
    const createExecution = async (e: NewExecution, idempotency?: IdempotencyClaim) => {
      const [r] = await store.runs.acceptMany([{ execution: e, idempotency }]);
      if (r!.type === 'error') throw r!.error;
      return r!;
    };
    const claimNodes = async (workerId: string, limit: number, now: number, leaseMs: number) =>
      (await store.queue.settleAndClaim({ workerId, now, completions: [], claim: limit, leaseMs }, SCHEDULING_RULES)).claimed;
    const completeNode = async (c: Completion & { workerId: string; now: number }) =>
      (await store.queue.settleAndClaim({ workerId: c.workerId, now: c.now, completions: [c], claim: 0, leaseMs: 0 }, SCHEDULING_RULES)).settled[0]!;
    const t = (name: string, fn: () => Promise<void>) =>
      it(name, async () => {
        try {
          await fn();
        } catch (e) {
          failed = true;
          throw e;
        }
      });

    t('workspaces: create once, read, list, rename, disable and enable', async () => {
      assert.equal(await store.catalog.createWorkspace({ id: 'ws-conf', name: 'Conf', createdAt: 5 }), true);
      assert.equal(await store.catalog.createWorkspace({ id: 'ws-conf', name: 'Other', createdAt: 6 }), false);
      assert.deepEqual(await store.catalog.getWorkspace('ws-conf'), { id: 'ws-conf', name: 'Conf', createdAt: 5 });
      assert.equal(await store.catalog.getWorkspace('ws-none'), undefined);
      assert.deepEqual(await store.catalog.updateWorkspace('ws-conf', { name: 'Conf 2', disabledAt: 7 }), { id: 'ws-conf', name: 'Conf 2', createdAt: 5, disabledAt: 7 });
      assert.deepEqual(await store.catalog.updateWorkspace('ws-conf', { disabledAt: null }), { id: 'ws-conf', name: 'Conf 2', createdAt: 5 });
      assert.equal(await store.catalog.updateWorkspace('ws-none', { name: 'x' }), undefined);
      const listed = await store.catalog.listWorkspaces({ offset: 0, limit: 1000 });
      assert.ok(listed.items.some((w) => w.id === 'ws-conf'));
      assert.equal(listed.total, listed.items.length);
    });

    t('workflows: one canvasId per workspace, created once under concurrent creates', async () => {
      await store.catalog.ensureWorkspace('ws-race-a', 1);
      await store.catalog.ensureWorkspace('ws-race-b', 1);
      const results = await Promise.all(Array.from({ length: 6 }, () => store.catalog.createWorkflow('ws-race-a', 'c-race', def, 10)));
      assert.equal(results.filter(Boolean).length, 1);
      assert.equal(await store.catalog.createWorkflow('ws-race-b', 'c-race', { ...def, title: 'theirs' }, 10), true);
      assert.equal((await store.catalog.getWorkflow('ws-race-a', 'c-race'))?.title, def.title);
      assert.equal((await store.catalog.getWorkflow('ws-race-b', 'c-race'))?.title, 'theirs');
    });

    t('workflows: create, version on update, tenancy, list, soft delete', async () => {
      assert.equal(await store.catalog.createWorkflow('ws-1', 'c-1', def, 10), true);
      assert.equal(await store.catalog.createWorkflow('ws-1', 'c-1', def, 10), false);
      const v2 = await store.catalog.updateWorkflow('ws-1', 'c-1', { ...def, title: 'Branches v2' }, 20);
      assert.equal(v2?.version, 2);
      assert.equal((await store.catalog.getWorkflowVersion('ws-1', 'c-1', 1))?.title, 'Branches');
      assert.equal(await store.catalog.getWorkflowVersion('ws-2', 'c-1', 1), undefined);
      assert.equal((await store.catalog.getWorkflow('ws-1', 'c-1'))?.title, 'Branches v2');
      assert.equal(await store.catalog.getWorkflow('ws-2', 'c-1'), undefined);
      assert.equal(await store.catalog.updateWorkflow('ws-2', 'c-1', def, 30), undefined);
      await store.catalog.createWorkflow('ws-1', 'c-2', { ...def, title: 'Other 50%' }, 15);
      const list = await store.catalog.listWorkflows('ws-1', { keyword: 'BRANCH', order: 'creationDesc', offset: 0, limit: 10 });
      assert.deepEqual(list.items.map((w) => w.canvasId), ['c-1']);
      const pct = await store.catalog.listWorkflows('ws-1', { keyword: '50%', order: 'creationAsc', offset: 0, limit: 10 });
      assert.deepEqual(pct.items.map((w) => w.canvasId), ['c-2']);
      const all = await store.catalog.listWorkflows('ws-1', { order: 'updationDesc', offset: 0, limit: 1 });
      assert.equal(all.total, 2);
      assert.deepEqual(all.items.map((w) => w.canvasId), ['c-1']);
      assert.equal(await store.catalog.deleteWorkflow('ws-1', 'c-2', 40), true);
      assert.equal(await store.catalog.getWorkflow('ws-1', 'c-2'), undefined);
      assert.equal(await store.catalog.deleteWorkflow('ws-1', 'c-2', 40), false);
    });

    t('api keys: find by hash, list per workspace, delete', async () => {
      await store.catalog.createApiKey({ id: 'ak-1', workspaceId: 'ws-1', name: 'k', prefix: 'fg_ab', secretHash: 'h1', scopes: ['read'], createdAt: 1 });
      assert.deepEqual((await store.catalog.findApiKeyByHash('h1'))?.scopes, ['read']);
      assert.equal((await store.catalog.listApiKeys('ws-2')).length, 0);
      assert.equal(await store.catalog.deleteApiKey('ws-2', 'ak-1'), false);
      assert.equal(await store.catalog.deleteApiKey('ws-1', 'ak-1'), true);
      assert.equal(await store.catalog.findApiKeyByHash('h1'), undefined);
    });

    t('idempotency: replay on same hash, reuse on different hash, new run after expiry', async () => {
      const idem = { scope: 'api', key: 'k-1', requestHash: 'h', response: { executionId: 'x' }, ttlMs: 1000 };
      const first = await createExecution(newExecution(100), idem);
      assert.equal(first.type, 'created');
      const again = await createExecution(newExecution(200), idem);
      assert.equal(again.type, 'replayed');
      assert.equal(again.type === 'replayed' && again.executionId, first.type === 'created' && first.executionId);
      assert.equal((await createExecution(newExecution(300), { ...idem, requestHash: 'other' })).type, 'key_reused');
      assert.equal((await createExecution(newExecution(5000), idem)).type, 'created');
    });

    t('concurrent creates with one key make one execution', async () => {
      const idem = { scope: 'api', key: 'race', requestHash: 'h', response: {}, ttlMs: 60_000 };
      const results = await Promise.all(Array.from({ length: 10 }, () => createExecution(newExecution(1000), idem)));
      assert.equal(results.filter((r) => r.type === 'created').length, 1);
      assert.equal(results.filter((r) => r.type === 'replayed').length, 9);
    });

    t('accept batch: in-batch duplicates, a reused key and a live key resolve per item; the rest commit', async () => {
      await createExecution(newExecution(90_000), { scope: 'api', key: 'live', requestHash: 'h', response: { n: 0 }, ttlMs: 60_000 });
      const key = (k: string, requestHash = 'h') => ({ scope: 'api', key: k, requestHash, response: { k }, ttlMs: 60_000 });
      const items = [
        { execution: newExecution(90_001), idempotency: key('b1') },
        { execution: newExecution(90_001), idempotency: key('b1') },
        { execution: newExecution(90_001), idempotency: key('b1', 'other') },
        { execution: newExecution(90_001) },
        { execution: newExecution(90_001), idempotency: key('live') },
        { call: { recordId: 'wc-lone', webhookId: 'wh_x', status: 'rejected' as const, httpStatus: 401, errCode: 'INVALID_SIGNATURE' as const, responseTime: 1, bodySize: 2, duplicate: false, createdAt: 90_001 } },
      ];
      const out = await store.runs.acceptMany(items);
      assert.deepEqual(out.map((o) => o.type), ['created', 'replayed', 'key_reused', 'created', 'replayed', 'recorded']);
      assert.equal(out[1]!.type === 'replayed' && out[1]!.executionId, items[0]!.execution!.executionId, 'the second of a batch replays the first');
      for (const [i, exists] of [[0, true], [1, false], [2, false], [3, true], [4, false]] as const) {
        assert.equal(Boolean(await store.runs.getExecution('ws-1', items[i]!.execution!.executionId)), exists, `item ${i}`);
      }
      assert.equal((await store.webhooks.listWebhookCalls('wh_x', 0, 10)).records[0]?.errCode, 'INVALID_SIGNATURE');
    });

    t('accept batch: a webhook call and its event commit with the run; a failing item fails alone', async () => {
      await store.outbox.createEndpoint({ id: 'ep-hooks', workspaceId: 'ws-1', url: 'https://example.com/h', enabled: true, ordered: false, eventTypes: ['webhook.received'], secret: 'whsec_dGVzdA==', createdAt: 1, updatedAt: 1 });
      const taken = newExecution(91_000);
      await createExecution(taken);
      const fresh = newExecution(91_001);
      const call = { recordId: 'wc-1', webhookId: 'wh_y', status: 'accepted' as const, httpStatus: 200, executionId: fresh.executionId, responseTime: 1, bodySize: 3, duplicate: false, createdAt: 91_001 };
      const event = { workspaceId: 'ws-1', type: 'webhook.received', executionId: fresh.executionId, now: 91_001, data: { recordId: 'wc-1' } };
      const out = await store.runs.acceptMany([{ execution: { ...newExecution(91_001), executionId: taken.executionId } }, { execution: fresh, call, events: [event] }]);
      assert.equal(out[0]!.type, 'error', 'an execution id that exists cannot be inserted twice');
      assert.equal(out[1]!.type, 'created');
      const [record] = (await store.webhooks.listWebhookCalls('wh_y', 0, 10)).records;
      assert.deepEqual([record?.status, record?.executionId], ['accepted', fresh.executionId]);
      const messages = await store.outbox.listMessages({ workspaceId: 'ws-1', endpointId: 'ep-hooks', limit: 10 });
      assert.deepEqual(messages.map((m) => [m.eventType, m.executionId]), [['webhook.received', fresh.executionId]]);
      await store.outbox.deleteEndpoint('ws-1', 'ep-hooks', 91_002);
      for (const e of [taken, fresh]) await store.runs.terminateExecution(e.executionId, 'EXECUTION_ABORTED', 'cleanup', 91_003);
    });

    t('accept batch: only the runs it creates write their events, and a new callback endpoint hears its own run', async () => {
      await store.outbox.createEndpoint({ id: 'ep-accepting', workspaceId: 'ws-2', url: 'https://example.com/all', enabled: true, ordered: true, secret: 'whsec_dGVzdA==', createdAt: 1, updatedAt: 1 });
      await store.outbox.createEndpoint({ id: 'ep-accepting-off', workspaceId: 'ws-2', url: 'https://example.com/off', enabled: false, ordered: false, eventTypes: ['webhook.received'], secret: 'whsec_dGVzdA==', createdAt: 1, updatedAt: 1 });
      const held = newExecution(92_000, { workspaceId: 'ws-2' });
      await createExecution(held, { scope: 'api', key: 'ev-held', requestHash: 'h', response: {}, ttlMs: 60_000 });
      const key = (k: string) => ({ scope: 'api', key: k, requestHash: 'h', response: {}, ttlMs: 60_000 });
      const run = (over: Partial<NewExecution> = {}) => newExecution(92_001, { workspaceId: 'ws-2', ...over });
      const withEvent = (execution: NewExecution, idempotency?: IdempotencyClaim) => ({
        execution,
        idempotency,
        events: [{ workspaceId: 'ws-2', type: 'webhook.received', executionId: execution.executionId, now: 92_001, data: {} }],
      });
      const callback = { endpointId: 'ep-accepting-cb', url: 'https://example.com/cb', secret: 'whsec_dGVzdA==', eventTypes: ['webhook.received'] };
      const items = [
        withEvent(run({ callback })),
        withEvent(run(), key('ev-new')),
        withEvent(run(), key('ev-new')),
        withEvent(run(), key('ev-held')),
      ];
      const out = await store.runs.acceptMany(items);
      assert.deepEqual(out.map((o) => o.type), ['created', 'created', 'replayed', 'replayed']);
      const heard = async (endpointId: string) =>
        (await store.outbox.listMessages({ workspaceId: 'ws-2', endpointId, limit: 10 })).map((m) => [m.executionId, m.status]).sort();
      const created = [items[0]!, items[1]!].map((it) => it.execution.executionId);
      assert.deepEqual(await heard('ep-accepting'), created.map((id) => [id, 'pending']).sort());
      assert.deepEqual(await heard('ep-accepting-off'), created.map((id) => [id, 'skipped']).sort(), 'a disabled endpoint keeps what it missed');
      assert.deepEqual(await heard('ep-accepting-cb'), [[created[0], 'pending']], 'a callback endpoint hears its own run only');
      for (const id of ['ep-accepting', 'ep-accepting-off']) await store.outbox.deleteEndpoint('ws-2', id, 92_002);
      for (const e of [held.executionId, ...created]) await store.runs.terminateExecution(e, 'EXECUTION_ABORTED', 'cleanup', 92_003);
    });

    t('accept batch: events reach the endpoints as they are when the batch commits, whoever changed them', async () => {
      await store.catalog.ensureWorkspace('ws-fanout', 1);
      const endpoint = (id: string, over: { enabled?: boolean; eventTypes?: string[] } = {}) =>
        store.outbox.createEndpoint({ id, workspaceId: 'ws-fanout', url: `https://example.com/${id}`, enabled: over.enabled ?? true, ordered: false, eventTypes: over.eventTypes, secret: 'whsec_dGVzdA==', createdAt: 1, updatedAt: 1 });
      let at = 94_000;
      const accept = async () => {
        const run = newExecution(++at, { workspaceId: 'ws-fanout' });
        const [out] = await store.runs.acceptMany([{ execution: run, events: [{ workspaceId: 'ws-fanout', type: 'webhook.received', executionId: run.executionId, now: at, data: {} }] }]);
        assert.equal(out!.type, 'created');
        await store.runs.terminateExecution(run.executionId, 'EXECUTION_ABORTED', 'cleanup', at);
        return run.executionId;
      };
      /** What each endpoint holds for `executionId`: its status, or none. */
      const heard = async (executionId: string, ids: string[]) => {
        const out: Record<string, string> = {};
        for (const id of ids) {
          const m = (await store.outbox.listMessages({ workspaceId: 'ws-fanout', endpointId: id, limit: 100 })).find((x) => x.executionId === executionId);
          out[id] = m?.status ?? 'none';
        }
        return out;
      };
      const ids = ['ep-f1', 'ep-f2', 'ep-f3'];

      await endpoint('ep-f1');
      assert.deepEqual(await heard(await accept(), ids), { 'ep-f1': 'pending', 'ep-f2': 'none', 'ep-f3': 'none' });
      // Changed after the workspace's endpoints were last used for a batch (and on PostgreSQL cached).
      await store.outbox.updateEndpoint('ws-fanout', 'ep-f1', { enabled: false }, 2);
      await endpoint('ep-f2', { eventTypes: ['execution.finished'] });
      await endpoint('ep-f3');
      assert.deepEqual(await heard(await accept(), ids), { 'ep-f1': 'skipped', 'ep-f2': 'none', 'ep-f3': 'pending' });
      await store.outbox.updateEndpoint('ws-fanout', 'ep-f2', { eventTypes: ['webhook.received'] }, 3);
      assert.deepEqual(await heard(await accept(), ids), { 'ep-f1': 'skipped', 'ep-f2': 'pending', 'ep-f3': 'pending' });

      if (store.singleProcess) return;
      // Another process's change: this store is told nothing, yet its next batch sees it.
      const other = target.open();
      try {
        await other.outbox.deleteEndpoint('ws-fanout', 'ep-f3', 4);
        await other.outbox.updateEndpoint('ws-fanout', 'ep-f1', { enabled: true }, 4);
      } finally {
        await other.close();
      }
      assert.deepEqual(await heard(await accept(), ids), { 'ep-f1': 'pending', 'ep-f2': 'pending', 'ep-f3': 'none' });
      for (const id of ['ep-f1', 'ep-f2']) await store.outbox.deleteEndpoint('ws-fanout', id, 5);
    });

    t('accept batch: a commit that queued nodes or pending messages wakes their subscribers', async () => {
      // Subscribed (on PostgreSQL: listening) before the commit, each resolving at its first wake-up.
      const woken = async (kind: 'nodes' | 'messages') => {
        let heard!: () => void;
        const wake = new Promise<void>((resolve) => (heard = resolve));
        const unsubscribe = await store.subscribeWork(kind, () => heard());
        return { wake, unsubscribe };
      };
      await store.outbox.createEndpoint({ id: 'ep-wake', workspaceId: 'ws-2', url: 'https://example.com/w', enabled: true, ordered: false, secret: 'whsec_dGVzdA==', createdAt: 1, updatedAt: 1 });
      const subscriptions = [await woken('nodes'), await woken('messages')];
      const run = newExecution(93_000, { workspaceId: 'ws-2' });
      const [out] = await store.runs.acceptMany([{ execution: run, events: [{ workspaceId: 'ws-2', type: 'webhook.received', executionId: run.executionId, now: 93_000, data: {} }] }]);
      assert.equal(out!.type, 'created');
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('a wake-up never came')), 10_000)));
      try {
        await Promise.race([Promise.all(subscriptions.map((s) => s.wake)), late]);
      } finally {
        clearTimeout(timer);
        for (const s of subscriptions) await s.unsubscribe();
      }
      await store.outbox.deleteEndpoint('ws-2', 'ep-wake', 93_001);
      await store.runs.terminateExecution(run.executionId, 'EXECUTION_ABORTED', 'cleanup', 93_002);
    });

    t('batches of a size that is no power of two are written whole (split into power-of-two statements)', async () => {
      await claimNodes('drain', 1000, 1e12, 1); // earlier tests' leftovers out of the way
      const items = Array.from({ length: 37 }, (_, i) => ({
        execution: newExecution(96_000),
        idempotency: { scope: 'api', key: `odd-${i}`, requestHash: 'h', response: { i }, ttlMs: 60_000 },
      }));
      const out = await store.runs.acceptMany(items);
      assert.deepEqual(new Set(out.map((o) => o.type)), new Set(['created']));
      const roots = await claimNodes('w-odd', 37, 96_001, 10_000);
      assert.equal(roots.length, 37);
      const turn = await store.queue.settleAndClaim(
        { workerId: 'w-odd', now: 96_002, leaseMs: 10_000, claim: 0, completions: roots.map((c) => ({ ...c, result: { type: 'finished' as const, output: 1 } })) },
        SCHEDULING_RULES,
      );
      assert.equal(turn.settled.filter((x) => x.applied).length, 37);
      const replays = await store.runs.acceptMany(items);
      assert.deepEqual(replays.map((r) => r.type === 'replayed' && r.executionId), items.map((it) => it.execution.executionId), 'every key was stored');
      for (const it of items) await store.runs.terminateExecution(it.execution.executionId, 'EXECUTION_ABORTED', 'cleanup', 96_003);
    });

    t('worker turn: completions of several runs settle together and their successors are claimed in the same turn', async () => {
      await claimNodes('drain', 1000, 1e12, 1); // earlier tests' leftovers out of the way
      const runs = [newExecution(95_000), newExecution(95_000)];
      for (const e of runs) await createExecution(e);
      const roots = await claimNodes('w9', 10, 95_001, 10_000);
      assert.deepEqual(roots.map((c) => c.nodeId), ['a', 'a']);
      assert.deepEqual(roots[0]!.execution.variables, { x: 1 }, 'a claim carries its execution');
      const turn = await store.queue.settleAndClaim(
        { workerId: 'w9', now: 95_002, leaseMs: 10_000, claim: 10, completions: roots.map((c) => ({ ...c, result: { type: 'finished' as const, output: 7 } })) },
        SCHEDULING_RULES,
      );
      assert.deepEqual(turn.settled.map((s) => s.applied), [true, true]);
      assert.deepEqual(turn.claimed.map((c) => c.nodeId).sort(), ['b', 'b', 'gate', 'gate']);
      const next = turn.claimed.find((c) => c.nodeId === 'b')!;
      assert.deepEqual(next.ended.map((n) => [n.nodeId, n.output]), [['a', 7]], 'and the outputs of the nodes that ended');
      for (const e of runs) await store.runs.terminateExecution(e.executionId, 'EXECUTION_ABORTED', 'cleanup', 95_003);
    });

    t('worker turn: nodes the rules evaluate settle in the claiming turn, and what they release is claimed in it too', async () => {
      await claimNodes('drain', 1000, 1e12, 1);
      await store.outbox.createEndpoint({ id: 'ep-turn', workspaceId: 'ws-1', url: 'https://example.com/t', enabled: true, ordered: false, eventTypes: ['node.finished', 'execution.finished'], secret: 'whsec_dGVzdA==', createdAt: 1, updatedAt: 1 });
      const e = newExecution(96_000);
      await createExecution(e);
      // Every node but `b` is evaluated on the spot: `a` releases `gate` and `b`; `gate` (false) skips `gated`.
      const evaluate = async (w: ClaimedWork) =>
        w.nodeId === 'b' ? undefined : { type: 'finished' as const, output: w.nodeId === 'gate' ? false : { from: w.nodeId, saw: w.ended.map((n) => n.nodeId).sort() } };
      const turn = await store.queue.settleAndClaim({ workerId: 'w10', now: 96_001, leaseMs: 10_000, claim: 10, completions: [] }, { ...SCHEDULING_RULES, evaluate });
      assert.deepEqual(turn.claimed.map((c) => c.nodeId), ['b'], 'only the node the rules left is handed out');
      assert.equal(turn.evaluated, 2, 'a and gate');
      assert.deepEqual(turn.ended, []);
      const b = turn.claimed[0]!;
      const last = await store.queue.settleAndClaim(
        { workerId: 'w10', now: 96_002, leaseMs: 10_000, claim: 10, completions: [{ ...b, result: { type: 'finished', output: 3 } }] },
        { ...SCHEDULING_RULES, evaluate },
      );
      assert.deepEqual(last.claimed, []);
      assert.equal(last.evaluated, 1, 'out, released by b, evaluated in the same turn');
      assert.deepEqual(last.ended, [{ executionId: e.executionId, status: 'finish' }]);
      assert.equal(last.settled[0]!.executionStatus, undefined, 'b did not end the run; out did');
      const nodes = await store.runs.listNodes(e.executionId);
      assert.deepEqual(Object.fromEntries(nodes.map((n) => [n.nodeId, n.status])), { a: 'finish', gate: 'finish', gated: 'skipped', b: 'finish', out: 'finish' });
      assert.deepEqual(nodes.find((n) => n.nodeId === 'out')?.output, { from: 'out', saw: ['a', 'b', 'gate', 'gated'] });
      const attempts = await store.runs.listAttempts(e.executionId);
      assert.deepEqual(attempts.map((a) => [a.nodeId, a.status]).sort(), [['a', 'finish'], ['b', 'finish'], ['gate', 'finish'], ['out', 'finish']]);
      const messages = await store.outbox.listMessages({ workspaceId: 'ws-1', endpointId: 'ep-turn', limit: 100 });
      assert.deepEqual(messages.map((m) => m.eventType).sort(), ['execution.finished', 'node.finished', 'node.finished', 'node.finished', 'node.finished']);
      await store.outbox.deleteEndpoint('ws-1', 'ep-turn', 96_003);
    });

    t('scheduling: claim, complete, skip a false branch, finish the run', async () => {
      await store.queue.releaseLeases(null, 0);
      await store.queue.requeueExpiredLeases(0);
      // drain leftovers from earlier tests so the queue holds only this run
      for (const e of await store.runs.listExecutions({ workspaceId: 'ws-1', limit: 100 })) {
        await store.runs.terminateExecution(e.executionId, 'EXECUTION_ABORTED', 'cleanup', 1);
      }
      const e = newExecution(2000);
      await createExecution(e);
      const now = 3000;
      const step = async (expected: string[], output: (id: string) => unknown) => {
        const claimed = await claimNodes('w1', 10, now, 10_000);
        assert.deepEqual(claimed.map((c) => c.nodeId).sort(), expected);
        let status;
        for (const c of claimed) {
          const r = await completeNode({ ...c, workerId: 'w1', now, result: { type: 'finished', output: output(c.nodeId) } });
          assert.equal(r.applied, true);
          status = r.executionStatus ?? status;
        }
        return status;
      };
      assert.equal((await store.runs.getExecution('ws-1', e.executionId))?.status, 'init');
      await step(['a'], () => 1);
      assert.equal((await store.runs.getExecution('ws-1', e.executionId))?.status, 'executing');
      await step(['b', 'gate'], (id) => (id === 'gate' ? false : 3));
      const final = await step(['out'], () => ({ b: 3 }));
      assert.equal(final, 'finish');
      const nodes = await store.runs.listNodes(e.executionId);
      assert.deepEqual(
        Object.fromEntries(nodes.map((n) => [n.nodeId, n.status])),
        { a: 'finish', gate: 'finish', gated: 'skipped', b: 'finish', out: 'finish' },
      );
      assert.deepEqual(nodes.find((n) => n.nodeId === 'out')?.output, { b: 3 });
      const attempts = await store.runs.listAttempts(e.executionId);
      assert.equal(attempts.length, 4);
      assert.ok(attempts.every((a) => a.status === 'finish' && a.workerId === 'w1'));
      assert.equal((await store.runs.getExecution('ws-2', e.executionId)), undefined, 'other workspace sees nothing');
    });

    t('siblings completing at the same moment still release their join (no lost wake-up)', async () => {
      for (let round = 0; round < 10; round++) {
        const now = 50_000 + round * 10;
        const e = newExecution(now, {
          nodes: [
            { nodeId: 'l', kind: 'transform', deps: [] },
            { nodeId: 'r', kind: 'transform', deps: [] },
            { nodeId: 'j', kind: 'output', deps: ['l', 'r'] },
          ],
        });
        await createExecution(e);
        const claimed = (await claimNodes('w1', 50, now, 10_000)).filter((c) => c.executionId === e.executionId);
        assert.equal(claimed.length, 2);
        await Promise.all(claimed.map((c) => completeNode({ ...c, workerId: 'w1', now, result: { type: 'finished', output: 1 } })));
        const [j] = (await claimNodes('w1', 50, now, 10_000)).filter((c) => c.executionId === e.executionId);
        assert.equal(j?.nodeId, 'j', `round ${round}: the join became runnable`);
        const done = await completeNode({ ...j!, workerId: 'w1', now, result: { type: 'finished', output: 2 } });
        assert.equal(done.executionStatus, 'finish');
      }
    });

    t('a failed node fails the run and nothing else starts', async () => {
      const e = newExecution(4000);
      await createExecution(e);
      const [a] = await claimNodes('w1', 10, 4000, 10_000);
      assert.equal(a?.nodeId, 'a');
      const r = await completeNode({ ...a!, workerId: 'w1', now: 4001, result: { type: 'failed', errCode: 'UPSTREAM_ERROR', errMsg: '503 from x' } });
      assert.equal(r.executionStatus, 'failed');
      const ex = await store.runs.getExecution('ws-1', e.executionId);
      assert.equal(ex?.errCode, 'UPSTREAM_ERROR');
      assert.match(ex?.errMsg ?? '', /"a" failed: 503/);
      assert.deepEqual(await claimNodes('w1', 10, 5000, 10_000), []);
    });

    t('a lost lease makes the late completion a no-op, and the node runs again', async () => {
      const e = newExecution(6000);
      await createExecution(e);
      const [a] = await claimNodes('dead', 10, 6000, 1000);
      assert.ok(a);
      assert.equal(await store.queue.requeueExpiredLeases(6500), 0, 'lease still valid');
      assert.equal(await store.queue.requeueExpiredLeases(7001), 1);
      const [again] = await claimNodes('alive', 10, 7002, 1000);
      assert.equal(again?.nodeId, 'a');
      assert.equal(again?.attempt, 2);
      const late = await completeNode({ ...a!, workerId: 'dead', now: 7003, result: { type: 'finished', output: 'stale' } });
      assert.equal(late.applied, false);
      const held = await store.queue.heartbeat('alive', [e.executionId, 'we-not-a-run'], 7004, 1000);
      assert.deepEqual([...held], [`${e.executionId}/a`]);
      assert.equal((await store.queue.heartbeat('dead', [e.executionId], 7004, 1000)).size, 0);
      assert.equal((await store.queue.heartbeat('alive', [], 7004, 1000)).size, 0);
      await completeNode({ ...again!, workerId: 'alive', now: 7005, result: { type: 'finished', output: 1 } });
      const attempts = (await store.runs.listAttempts(e.executionId)).filter((x) => x.nodeId === 'a');
      assert.deepEqual(attempts.map((x) => [x.attempt, x.status, x.errCode ?? null]), [
        [1, 'failed', 'WORKER_LOST'],
        [2, 'finish', null],
      ]);
      await store.runs.terminateExecution(e.executionId, 'EXECUTION_ABORTED', 'cleanup', 7006);
    });

    t('retry results wait in the store until runAt', async () => {
      const e = newExecution(8000);
      await createExecution(e);
      const [a] = await claimNodes('w1', 10, 8000, 10_000);
      await completeNode({ ...a!, workerId: 'w1', now: 8001, result: { type: 'retry', runAt: 9000, errCode: 'UPSTREAM_ERROR', errMsg: '503' } });
      const n = (await store.runs.listNodes(e.executionId)).find((x) => x.nodeId === 'a');
      assert.equal(n?.status, 'waiting');
      assert.deepEqual(await claimNodes('w1', 10, 8999, 10_000), []);
      const [again] = await claimNodes('w1', 10, 9000, 10_000);
      assert.equal(again?.attempt, 2);
      await store.runs.terminateExecution(e.executionId, 'EXECUTION_ABORTED', 'cleanup', 9001);
    });

    t('abort ends the run, fails the node in flight, and is idempotent', async () => {
      const e = newExecution(10_000);
      await createExecution(e);
      const [a] = await claimNodes('w1', 10, 10_000, 10_000);
      assert.equal(await store.runs.terminateExecution(e.executionId, 'EXECUTION_ABORTED', 'Aborted by user', 10_001), true);
      assert.equal(await store.runs.terminateExecution(e.executionId, 'EXECUTION_ABORTED', 'Aborted by user', 10_002), false);
      const late = await completeNode({ ...a!, workerId: 'w1', now: 10_003, result: { type: 'finished', output: 1 } });
      assert.equal(late.applied, false);
      const ex = await store.runs.getExecution('ws-1', e.executionId);
      assert.equal(ex?.status, 'failed');
      assert.equal(ex?.errCode, 'EXECUTION_ABORTED');
      const nodes = await store.runs.listNodes(e.executionId);
      assert.equal(nodes.find((n) => n.nodeId === 'a')?.status, 'failed');
      assert.equal(nodes.find((n) => n.nodeId === 'b')?.status, 'init');
    });

    t('executions past their deadline time out', async () => {
      const e = newExecution(20_000, { deadlineAt: 20_500 });
      await createExecution(e);
      assert.deepEqual(await store.runs.timeOutExecutions(20_400), []);
      assert.deepEqual(await store.runs.timeOutExecutions(20_500), [e.executionId]);
      assert.equal((await store.runs.getExecution('ws-1', e.executionId))?.errCode, 'EXECUTION_TIMEOUT');
    });

    t('history: newest first, cursor, filters', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const e = newExecution(30_000 + i, { canvasId: 'c-hist', trigger: i % 2 ? 'cli' : 'api' });
        ids.push(e.executionId);
        await createExecution(e);
      }
      const page1 = await store.runs.listExecutions({ workspaceId: 'ws-1', canvasId: 'c-hist', limit: 2 });
      assert.deepEqual(page1.map((e) => e.executionId), [ids[4], ids[3]]);
      const page2 = await store.runs.listExecutions({ workspaceId: 'ws-1', canvasId: 'c-hist', limit: 2, cursor: page1[1]!.executionId });
      assert.deepEqual(page2.map((e) => e.executionId), [ids[2], ids[1]]);
      const cli = await store.runs.listExecutions({ workspaceId: 'ws-1', canvasId: 'c-hist', trigger: 'cli', limit: 10 });
      assert.equal(cli.length, 2);
      const since = await store.runs.listExecutions({ workspaceId: 'ws-1', canvasId: 'c-hist', since: 30_003, limit: 10 });
      assert.equal(since.length, 2);
      assert.equal((await store.runs.listExecutions({ workspaceId: 'ws-2', canvasId: 'c-hist', limit: 10 })).length, 0);
      const backlog = await store.queue.backlog(40_000);
      assert.ok(backlog.pendingExecutions >= 5);
      assert.ok(backlog.runnableNodes >= 5);
      assert.equal(await store.queue.pendingExecutions(1_000_000), backlog.pendingExecutions, 'under the cap: the whole count');
      assert.equal(await store.queue.pendingExecutions(3), 3, 'a deep backlog is counted up to the cap');
    });

    t('events: written with the change, fanned out per endpoint, ordered claims, lease-checked completion', async () => {
      const ep = (id: string, over: Record<string, unknown> = {}) => ({
        id, workspaceId: 'ws-2', url: 'https://example.com/hook', enabled: true, ordered: true, secret: 'whsec_dGVzdA==', createdAt: 1, updatedAt: 1, ...over,
      });
      await store.outbox.createEndpoint(ep('ep-ordered'));
      await store.outbox.createEndpoint(ep('ep-off', { enabled: false, ordered: false, eventTypes: ['execution.failed'] }));
      await store.outbox.createEndpoint(ep('ep-other-type', { eventTypes: ['webhook.silent'] }));
      const ids: string[] = [];
      for (let i = 0; i < 2; i++) {
        const e = newExecution(50_000 + i, { workspaceId: 'ws-2' });
        await createExecution(e);
        assert.equal(await store.runs.terminateExecution(e.executionId, 'EXECUTION_ABORTED', 'stop', 50_100 + i), true);
        ids.push(e.executionId);
      }
      const list = (endpointId: string) => store.outbox.listMessages({ workspaceId: 'ws-2', endpointId, limit: 10 });
      assert.equal((await list('ep-ordered')).length, 2);
      assert.deepEqual((await list('ep-off')).map((m) => m.status), ['skipped', 'skipped']);
      assert.equal((await list('ep-other-type')).length, 0, 'filtered by type');
      assert.equal((await store.outbox.listMessages({ workspaceId: 'ws-1', endpointId: 'ep-ordered', limit: 10 })).length, 0, 'tenancy');

      const first = await store.outbox.claimMessages('d1', 10, 60_000, 1_000);
      assert.equal(first.length, 1, 'an ordered endpoint releases one message at a time');
      const m1 = first[0]!;
      assert.equal(JSON.parse(m1.message.payload).data.executionId, ids[0]);
      assert.equal(m1.round, 1);
      const attempt = { attempt: 1, startedAt: 60_000, finishedAt: 60_010, latencyMs: 10, httpStatus: 503, outcome: 'failed' as const };
      const done = (workerId: string, next: any, a = attempt) => store.outbox.completeMessage({ messageId: m1.message.id, workerId, attempt: a, next, now: 60_010 }, RULES);
      assert.equal(await done('intruder', { type: 'retry', at: 60_500 }), false, 'only the lease holder writes');
      assert.equal(await done('d1', { type: 'retry', at: 60_500 }), true);
      assert.deepEqual(await store.outbox.claimMessages('d1', 10, 60_100, 1_000), [], 'the retry waits, and the next waits behind it');
      const again = await store.outbox.claimMessages('d2', 10, 60_500, 1_000);
      assert.equal(again[0]?.message.id, m1.message.id);
      assert.equal(again[0]?.attempt, 2);
      assert.equal(
        await store.outbox.completeMessage({ messageId: m1.message.id, workerId: 'd2', attempt: { ...attempt, attempt: 2, httpStatus: 200, outcome: 'succeeded' }, next: { type: 'succeeded' }, now: 60_600 }, RULES),
        true,
      );
      const second = await store.outbox.claimMessages('d1', 10, 60_700, 1_000);
      assert.equal(JSON.parse(second[0]!.message.payload).data.executionId, ids[1]);
      const messages = await list('ep-ordered');
      assert.deepEqual(messages.find((m) => m.id === m1.message.id)?.attemptLog.map((a) => a.httpStatus), [503, 200]);
      assert.equal(await store.outbox.requeueMessages({ expiredBefore: 61_701 }, 61_701), 1, 'an expired lease goes back to the queue');
      assert.equal(await store.outbox.recoverMessages('ws-2', 'ep-off', 0, 70_000), 'endpoint_disabled');
      await store.outbox.updateEndpoint('ws-2', 'ep-off', { enabled: true }, 70_000);
      assert.equal(await store.outbox.recoverMessages('ws-2', 'ep-off', 0, 70_000), 2);
      assert.equal(await store.outbox.replayMessage('ws-1', m1.message.id, 70_000), 'not_found', 'tenancy');
      assert.equal(await store.outbox.replayMessage('ws-2', m1.message.id, 70_000), 'replayed');
      assert.equal(await store.outbox.replayMessage('ws-2', m1.message.id, 70_000), 'in_flight', 'a second replay changes nothing');
    });

    /** A workspace with one endpoint, and `runs` executions there aborted from `at` on: a message each for it. */
    const endpointHearing = async (workspaceId: string, id: string, ordered: boolean, runs: number, at: number) => {
      await store.catalog.ensureWorkspace(workspaceId, 1);
      await store.outbox.createEndpoint({ id, workspaceId, url: `https://example.com/${id}`, enabled: true, ordered, secret: 'whsec_dGVzdA==', createdAt: 1, updatedAt: 1 });
      for (let i = 0; i < runs; i++) {
        const e = newExecution(at + i, { workspaceId });
        await createExecution(e);
        await store.runs.terminateExecution(e.executionId, 'EXECUTION_ABORTED', 'stop', at + 100 + i);
      }
    };

    t('events: a dispatcher turn records a batch of outcomes (one lease lost, one retry) and claims the next, in one transaction', async () => {
      await endpointHearing('ws-3', 'ep-batch', false, 5, 80_000);
      // The queue is shared with earlier tests' messages: only this endpoint's count here.
      const mine = <T extends { endpoint: { id: string } }>(list: T[]) => list.filter((c) => c.endpoint.id === 'ep-batch');
      const claimed = mine((await store.outbox.settleAndClaimMessages({ workerId: 'db1', completions: [], claim: 100, now: 90_000, leaseMs: 1_000, rules: RULES })).claimed).slice(0, 3);
      assert.equal(claimed.length, 3);
      const outcome = (m: (typeof claimed)[number], workerId: string, ok: boolean) => ({
        messageId: m.message.id,
        workerId,
        attempt: { attempt: m.attempt, startedAt: 90_000, finishedAt: 90_010, latencyMs: 10, httpStatus: ok ? 200 : 500, outcome: ok ? ('succeeded' as const) : ('failed' as const) },
        next: ok ? ({ type: 'succeeded' } as const) : ({ type: 'retry', at: 95_000 } as const),
        now: 90_010,
      });
      const turn = await store.outbox.settleAndClaimMessages({
        workerId: 'db1',
        completions: [outcome(claimed[0]!, 'db1', true), outcome(claimed[1]!, 'intruder', true), outcome(claimed[2]!, 'db1', false)],
        claim: 10,
        now: 90_020,
        leaseMs: 1_000,
        rules: RULES,
      });
      assert.deepEqual(turn.applied, [true, false, true]);
      assert.equal(mine(turn.claimed).length, 0, 'the retry is not due, the lost lease is still leased, the rest were claimed before');
      const byId = new Map((await store.outbox.listMessages({ workspaceId: 'ws-3', endpointId: 'ep-batch', limit: 10 })).map((m) => [m.id, m]));
      assert.equal(byId.get(claimed[0]!.message.id)?.status, 'succeeded');
      assert.deepEqual(byId.get(claimed[0]!.message.id)?.attemptLog.map((a) => a.httpStatus), [200]);
      assert.equal(byId.get(claimed[1]!.message.id)?.status, 'delivering', 'a completion whose lease was lost writes nothing');
      assert.equal(byId.get(claimed[2]!.message.id)?.status, 'pending');
      assert.equal(byId.get(claimed[2]!.message.id)?.nextAttemptAt, 95_000);
    });

    t('events: a turn of successes records them and claims what they free, the next message of an ordered endpoint included', async () => {
      await endpointHearing('ws-4', 'ep-seq', true, 3, 100_000);
      const mine = <T extends { endpoint: { id: string } }>(list: T[]) => list.filter((c) => c.endpoint.id === 'ep-seq');
      const turn = (completions: CompleteMessageInput[], claim: number, now: number) => store.outbox.settleAndClaimMessages({ workerId: 'dq', completions, claim, now, leaseMs: 1_000, rules: RULES });
      const first = mine((await turn([], 100, 110_000)).claimed);
      assert.equal(first.length, 1, 'an ordered endpoint releases one message at a time');
      // A first attempt fails: the endpoint is failing from then on, and the message is due again at once.
      const failed: CompleteMessageInput = {
        messageId: first[0]!.message.id,
        workerId: 'dq',
        attempt: { attempt: first[0]!.attempt, startedAt: 110_000, finishedAt: 110_005, latencyMs: 5, httpStatus: 503, outcome: 'failed' },
        next: { type: 'retry', at: 110_006 },
        now: 110_005,
      };
      assert.deepEqual((await turn([failed], 0, 110_005)).applied, [true]);
      assert.equal((await store.outbox.getEndpoint('ws-4', 'ep-seq'))?.failingSince, 110_005);
      const again = mine((await turn([], 100, 110_007)).claimed);
      assert.equal(again[0]?.message.id, first[0]!.message.id, 'the retry is next, and the only one');
      const m = again[0]!;
      const ok = (workerId: string): CompleteMessageInput => ({
        messageId: m.message.id,
        workerId,
        attempt: { attempt: m.attempt, startedAt: 110_008, finishedAt: 110_010, latencyMs: 10, httpStatus: 204, responseExcerpt: 'fine', outcome: 'succeeded' },
        next: { type: 'succeeded' },
        now: 110_010,
      });
      assert.deepEqual((await turn([ok('intruder')], 0, 110_015)).applied, [false], 'only the lease holder writes');
      const settled = await turn([ok('dq')], 100, 110_020);
      assert.equal((await store.outbox.getEndpoint('ws-4', 'ep-seq'))?.failingSince, undefined, 'an endpoint that answers is no longer failing');
      assert.deepEqual(settled.applied, [true]);
      const next = mine(settled.claimed);
      assert.equal(next.length, 1, "the endpoint's next message is claimed in the turn that settled the one before it");
      assert.notEqual(next[0]!.message.id, m.message.id);
      const log = (await store.outbox.listMessages({ workspaceId: 'ws-4', endpointId: 'ep-seq', limit: 10 })).find((x) => x.id === m.message.id)!;
      assert.equal(log.status, 'succeeded');
      assert.deepEqual(log.attemptLog.map((a) => [a.attempt, a.httpStatus, a.latencyMs, a.responseExcerpt, a.outcome]), [
        [1, 503, 5, undefined, 'failed'],
        [2, 204, 10, 'fine', 'succeeded'],
      ]);
    });
  });
}
