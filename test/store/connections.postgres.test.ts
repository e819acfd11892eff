import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { SCHEDULING_RULES } from '../../src/engine/rules.ts';
import { newExecutionId } from '../../src/ids.ts';
import { openPostgresStore } from '../../src/store/postgres/open.ts';
import type { Store } from '../../src/store/store.ts';
import { freshTarget, STORE_KINDS, TEST_DATABASE_URL, type StoreTarget } from '../helpers/stores.ts';

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * PostgreSQL restarts, fails over, or a proxy closes idle connections: the store's connections break
 * while nobody is using them. That must cost a reconnect, not the process (an unhandled 'error' on
 * the pool ended it), and the listener for wake-ups must come back.
 */
describe('a store whose PostgreSQL connections are terminated (PostgreSQL)', { skip: !STORE_KINDS.includes('postgres') }, () => {
  let target: StoreTarget;
  let store: Store;
  let admin: pg.Client;
  // Every connection of this store, and only these, carries this name.
  const name = `flowgate-test-${process.pid}-${Date.now()}`;
  const errors: string[] = [];
  let wakes = 0;
  let unsubscribe: (() => Promise<void>) | undefined;

  before(async () => {
    target = freshTarget('postgres');
    const url = new URL(TEST_DATABASE_URL);
    url.searchParams.set('application_name', name);
    store = openPostgresStore({ connectionString: url.toString(), schema: target.config.databaseSchema, onConnectionError: (_err, where) => errors.push(where) });
    await store.migrate();
    await store.catalog.ensureWorkspace('ws-1', 1);
    admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
  });
  after(async () => {
    await unsubscribe?.();
    await store?.close();
    await admin?.end();
    await target?.cleanup(false);
  });

  const terminate = async () =>
    (await admin.query('SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = $1', [name])).rows[0].n as number;

  it('keeps serving, and hears wake-ups again once the listener is back', async () => {
    unsubscribe = await store.subscribeWork('nodes', () => wakes++);
    // Idle connections in both pools: the store's own and the turns'.
    assert.equal(await store.queue.pendingExecutions(10), 0);
    await store.queue.settleAndClaim({ workerId: 'w', now: 1, leaseMs: 1_000, completions: [], claim: 1 }, SCHEDULING_RULES);

    assert.ok((await terminate()) >= 3, 'the pool, the turn pool and the listener');
    await until('both kinds of error reported', () => errors.includes('pool') && errors.includes('listener'));
    const before = wakes;
    await until('the listener to come back', () => wakes > before);

    // The pools open new connections when needed, and the listener hears new work again.
    const heard = wakes;
    const [accepted] = await store.runs.acceptMany([
      {
        execution: { executionId: newExecutionId(2), workspaceId: 'ws-1', canvasId: 'c-1', version: 1, trigger: 'api', variables: {}, nodes: [{ nodeId: 'a', kind: 'http', deps: [] }], now: 2, deadlineAt: 1e13 },
      },
    ]);
    assert.equal(accepted!.type, 'created');
    await until('a wake-up for the accepted run', () => wakes > heard);
    const turn = await store.queue.settleAndClaim({ workerId: 'w', now: 3, leaseMs: 1_000, completions: [], claim: 1 }, SCHEDULING_RULES);
    assert.equal(turn.claimed.length, 1);
  });
});
