import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Metrics } from '../src/metrics.ts';
import { newExecutionId } from '../src/ids.ts';
import type { Store } from '../src/store/store.ts';
import { freshTarget, STORE_KINDS, type StoreTarget } from './helpers/stores.ts';

for (const kind of STORE_KINDS) {
  describe(`backlog gauges (${kind})`, () => {
    let target: StoreTarget;
    let store: Store;
    before(async () => {
      target = freshTarget(kind);
      store = target.open();
      await store.migrate();
      await store.catalog.ensureWorkspace('ws-1', 1);
    });
    after(async () => {
      await store.close();
      await target.cleanup(false);
    });

    it('a scrape reports both counts from one read of the store', async () => {
      const now = 10_000;
      const nodes = [
        { nodeId: 'a', kind: 'http', deps: [] },
        { nodeId: 'b', kind: 'http', deps: [] },
      ];
      const items = [1, 2, 3].map((i) => ({ execution: { executionId: newExecutionId(now + i), workspaceId: 'ws-1', canvasId: 'c-1', version: 1, trigger: 'api' as const, variables: {}, nodes, now, deadlineAt: 1e13 } }));
      assert.deepEqual((await store.runs.acceptMany(items)).map((o) => o.type), ['created', 'created', 'created']);
      // The real store, counted: what a scrape costs the database is the point.
      let reads = 0;
      const backlog = store.queue.backlog.bind(store.queue);
      store.queue.backlog = (at) => {
        reads++;
        return backlog(at);
      };
      const metrics = new Metrics(store, () => now + 10);
      const text = await metrics.registry.metrics();
      assert.match(text, /^flowgate_backlog_executions 3$/m);
      assert.match(text, /^flowgate_backlog_runnable_nodes 6$/m);
      assert.equal(reads, 1);
      await metrics.registry.metrics();
      assert.equal(reads, 2, 'the next scrape reads again');
    });
  });
}
