import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newExecutionId } from '../../src/ids.ts';
import { GroupCommitter } from '../../src/runs/groupCommit.ts';
import type { AcceptItem, NewExecution } from '../../src/store/store.ts';
import { STORE_KINDS, storeForSuite } from '../helpers/stores.ts';

const execution = (now: number): NewExecution => ({
  executionId: newExecutionId(now),
  workspaceId: 'ws-gc',
  canvasId: 'c-gc',
  version: 1,
  trigger: 'api',
  variables: {},
  nodes: [{ nodeId: 'out', kind: 'output', deps: [] }],
  now,
  deadlineAt: now + 3_600_000,
});

for (const kind of STORE_KINDS) {
  describe(`group commit (${kind})`, () => {
    const suite = storeForSuite(kind, ['ws-gc']);

    /**
     * The real store's accept, watched: how many transactions overlapped, and how big they were. With
     * `holdFirst` the first batch's commit waits until a second one has started, as a commit taking
     * round trips does, whatever the machine's speed (a fast database could otherwise answer the first
     * before the second is submitted).
     */
    const watched = (holdFirst: boolean) => {
      const seen = { inFlight: 0, most: 0, batches: [] as number[] };
      let secondStarted!: () => void;
      const started = new Promise<void>((r) => (secondStarted = r));
      const runs = {
        async acceptMany(items: readonly AcceptItem[]) {
          seen.batches.push(items.length);
          seen.most = Math.max(seen.most, ++seen.inFlight);
          try {
            if (seen.batches.length > 1) secondStarted();
            // Bounded: a committer that never overlaps fails the assertion below instead of hanging.
            else if (holdFirst) await Promise.race([started, new Promise((r) => setTimeout(r, 2000))]);
            return await suite.store.runs.acceptMany(items);
          } finally {
            seen.inFlight--;
          }
        },
      };
      return { runs, seen };
    };

    for (const maxInFlight of [1, 2]) {
      it(`commits what arrives together as one batch, with at most ${maxInFlight} in flight, and answers each item after its commit`, async () => {
        const { runs, seen } = watched(maxInFlight > 1);
        const commits = new GroupCommitter(runs, 128, undefined, maxInFlight);
        const now = Date.now();
        const first = Array.from({ length: 20 }, (_, i) => commits.submit({ execution: execution(now + i) }));
        // Arrives once the first batch's commit has started.
        await new Promise((r) => setImmediate(r));
        const second = Array.from({ length: 20 }, (_, i) => commits.submit({ execution: execution(now + 100 + i) }));
        await new Promise((r) => setImmediate(r));
        const third = Array.from({ length: 20 }, (_, i) => commits.submit({ execution: execution(now + 200 + i) }));
        const outcomes = await Promise.all([...first, ...second, ...third]);
        await commits.drain();
        assert.deepEqual(new Set(outcomes.map((o) => o.type)), new Set(['created']));
        assert.equal(seen.batches[0], 20, 'the first tick is one batch');
        assert.equal(seen.batches.reduce((a, b) => a + b, 0), 60);
        // The second batch starts while the first is in flight, if a second may.
        assert.equal(seen.most, maxInFlight, `${seen.most} transactions overlapped`);
        for (const o of outcomes) {
          if (o.type !== 'created') continue;
          assert.equal((await suite.store.runs.getExecution('ws-gc', o.executionId))?.status, 'init');
        }
      });
    }
  });
}
