import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Metrics } from '../src/metrics.ts';
import { newExecutionId } from '../src/ids.ts';
import { STORE_KINDS, storeForSuite } from './helpers/stores.ts';

for (const kind of STORE_KINDS) {
  describe(`backlog gauges (${kind})`, () => {
    const suite = storeForSuite(kind, ['ws-1']);

    it('a scrape reports both counts from one read of the store', async () => {
      const now = 10_000;
      const nodes = [
        { nodeId: 'a', kind: 'http', deps: [] },
        { nodeId: 'b', kind: 'http', deps: [] },
      ];
      const items = [1, 2, 3].map((i) => ({ execution: { executionId: newExecutionId(now + i), workspaceId: 'ws-1', canvasId: 'c-1', version: 1, trigger: 'api' as const, variables: {}, nodes, now, deadlineAt: 1e13 } }));
      assert.deepEqual((await suite.store.runs.acceptMany(items)).map((o) => o.type), ['created', 'created', 'created']);
      // The real store, counted: what a scrape costs the database is the point.
      let reads = 0;
      const backlog = suite.store.queue.backlog.bind(suite.store.queue);
      suite.store.queue.backlog = (at) => {
        reads++;
        return backlog(at);
      };
      const metrics = new Metrics(suite.store, () => now + 10);
      const text = await metrics.registry.metrics();
      assert.match(text, /^flowgate_backlog_executions 3$/m);
      assert.match(text, /^flowgate_backlog_runnable_nodes 6$/m);
      assert.equal(reads, 1);
      await metrics.registry.metrics();
      assert.equal(reads, 2, 'the next scrape reads again');
    });
  });
}
