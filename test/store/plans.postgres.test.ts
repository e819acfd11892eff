import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { deliveryRules } from '../../src/delivery/rules.ts';
import { SCHEDULING_RULES } from '../../src/engine/rules.ts';
import type { CompleteMessageInput } from '../../src/store/delivery.ts';
import { newExecutionId } from '../../src/ids.ts';
import type { ClaimedWork, Completion, NewExecution, NodeResult, Store } from '../../src/store/store.ts';
import { openPostgresStore } from '../../src/store/postgres/open.ts';
import { preparedTexts } from '../../src/store/sql/statements.ts';
import { freshTarget, STORE_KINDS, TEST_DATABASE_URL, type StoreTarget } from '../helpers/stores.ts';

const BATCH = 128;
const QUEUED = 30_000;

/**
 * A new schema with a store on it (`open` says how) and an admin connection, for one describe: dropped
 * after it, or kept for inspection when a test failed. `test` is `it` that records the failure.
 */
function onFreshSchema(open: (t: StoreTarget) => Store = (t) => t.open()) {
  const ctx = { failed: false } as { target: StoreTarget; store: Store; admin: pg.Client; failed: boolean };
  before(async () => {
    ctx.target = freshTarget('postgres');
    ctx.store = open(ctx.target);
    await ctx.store.migrate();
    await ctx.store.catalog.ensureWorkspace('ws-1', 1);
    ctx.admin = new pg.Client({ connectionString: TEST_DATABASE_URL, options: `-c search_path=${ctx.target.config.databaseSchema}` });
    await ctx.admin.connect();
  });
  after(async () => {
    await ctx.admin?.end();
    await ctx.store?.close();
    await ctx.target?.cleanup(ctx.failed);
  });
  const test = (name: string, fn: () => Promise<void>) =>
    it(name, async () => {
      try {
        await fn();
      } catch (e) {
        ctx.failed = true;
        throw e;
      }
    });
  return { ctx, test };
}

/**
 * A worker's heartbeat and its turn touch its whole batch by primary key (the turn with
 * `UPDATE … FROM v`). PostgreSQL plans them from the last ANALYZE, which on a queue table often saw
 * no row in the status a statement filters on (`executing`, `init`): it then guesses one matching
 * row, and for a batch of 128 a sequential scan looks cheaper than 128 index probes — a nested loop
 * over the whole table, 500 ms a statement at 30,000 node rows in the end-to-end benchmark. The plans
 * are taken with the parameters the statements ran with, on tables whose statistics say exactly that.
 */
describe('a worker turn keeps its index lookups when the statistics are stale (PostgreSQL)', { skip: !STORE_KINDS.includes('postgres') }, () => {
  const { ctx, test } = onFreshSchema();
  const ran: { text: string; values: unknown[] }[] = [];
  const query = pg.Client.prototype.query;

  before(async () => {
    const { admin } = ctx;
    const tables = ['executions', 'node_executions', 'node_attempts'];
    for (const t of tables) await admin.query(`ALTER TABLE ${t} SET (autovacuum_enabled = false)`);
    // What ANALYZE saw: a history of finished runs, nothing queued or running.
    await admin.query(`INSERT INTO executions (id, workspace_id, workflow_id, workflow_version, status, "trigger", variables, created_at, deadline_at)
                       SELECT 'old-' || g, 'ws-1', 'c-1', 1, 'finish', 'api', '{}', 1, 2 FROM generate_series(1, 300) g`);
    await admin.query(`INSERT INTO node_executions (execution_id, node_id, position, kind, deps, status, attempts)
                       SELECT 'old-' || g, 'a', 0, 'transform', '[]', 'finish', 1 FROM generate_series(1, 300) g`);
    await admin.query(`INSERT INTO node_attempts (execution_id, node_id, attempt, worker_id, status, started_at)
                       SELECT 'old-' || g, 'a', 1, 'w', 'finish', 1 FROM generate_series(1, 300) g`);
    for (const t of tables) await admin.query(`ANALYZE ${t}`);
    // What is there now: a deep backlog of queued runs, each with its first node done.
    await admin.query(`INSERT INTO executions (id, workspace_id, workflow_id, workflow_version, status, "trigger", variables, created_at, deadline_at)
                       SELECT 'q-' || g, 'ws-1', 'c-1', 1, 'executing', 'api', '{}', 1, 2 FROM generate_series(1, ${QUEUED}) g`);
    await admin.query(`INSERT INTO node_executions (execution_id, node_id, position, kind, deps, status, attempts)
                       SELECT 'q-' || g, 'b', 1, 'transform', '["a"]', 'init', 0 FROM generate_series(1, ${QUEUED}) g`);
    await admin.query(`INSERT INTO node_attempts (execution_id, node_id, attempt, worker_id, status, started_at)
                       SELECT 'q-' || g, 'a', 1, 'w', 'finish', 1 FROM generate_series(1, ${QUEUED}) g`);
  });
  after(() => {
    pg.Client.prototype.query = query;
  });

  test(`heartbeating, settling and releasing ${BATCH} nodes reads no table whole`, async () => {
    const { store, admin } = ctx;
      const runs: NewExecution[] = Array.from({ length: BATCH }, () => ({
        executionId: newExecutionId(10_000),
        workspaceId: 'ws-1',
        canvasId: 'c-1',
        version: 1,
        trigger: 'api',
        variables: {},
        nodes: [
          { nodeId: 'a', kind: 'http', deps: [] },
          { nodeId: 'b', kind: 'http', deps: ['a'] },
        ],
        now: 10_000,
        deadlineAt: 1e13,
      }));
      const accepted = await store.runs.acceptMany(runs.map((execution) => ({ execution })));
      assert.ok(accepted.every((a) => a.type === 'created'));
      const mine = new Set(runs.map((r) => r.executionId));
      const { claimed } = await store.queue.settleAndClaim({ workerId: 'w1', now: 10_001, leaseMs: 60_000, completions: [], claim: 1000 }, SCHEDULING_RULES);
      const roots = claimed.filter((c) => mine.has(c.executionId));
      assert.equal(roots.length, BATCH);

      // Records what the heartbeat and the turn send, as the driver sends it.
      pg.Client.prototype.query = function (this: pg.Client, config: unknown, values?: unknown, cb?: unknown) {
        const text = typeof config === 'string' ? config : (config as { text?: string }).text;
        const params = Array.isArray(values) ? values : (config as { values?: unknown[] }).values;
        if (text && /^\s*(WITH|UPDATE)\b/i.test(text)) ran.push({ text, values: params ?? [] });
        return (query as (...a: unknown[]) => unknown).call(this, config, values, cb);
      } as typeof query;
      const held = await store.queue.heartbeat('w1', [...mine], 10_002, 60_000);
      assert.equal(held.size, BATCH);
      const turn = await store.queue.settleAndClaim(
        { workerId: 'w1', now: 10_002, leaseMs: 60_000, claim: 0, completions: roots.map((c) => ({ ...c, result: { type: 'finished' as const, output: 1 } })) },
        SCHEDULING_RULES,
      );
      pg.Client.prototype.query = query;
      assert.equal(turn.settled.filter((s) => s.applied).length, BATCH);

      const keyed = ran.filter((r) => /\bFROM v\b|json_populate_recordset|SET lease_expires_at/.test(r.text));
      // The heartbeat, the settle of the nodes and of their attempts, and the release of their successors.
      assert.ok(keyed.length >= 3, `expected the batch's keyed updates, saw:\n${ran.map((r) => r.text.slice(0, 80)).join('\n')}`);
      const queueOnly = new Set(preparedTexts().filter((t) => t.queueOnly).map((t) => t.text));
      for (const r of keyed) {
        // As the connection that ran it: the turn's statements run where sequential scans are off.
        await admin.query(`SET enable_seqscan = ${queueOnly.has(r.text) ? 'off' : 'on'}`);
        const plan = (await admin.query({ text: `EXPLAIN ${r.text}`, values: r.values })).rows.map((x: Record<string, string>) => x['QUERY PLAN']).join('\n');
        assert.doesNotMatch(plan, /Seq Scan on (executions|node_executions|node_attempts)\b/, `${r.text.slice(0, 300)}…\n→\n${plan}`);
        // The index of leases holds every node ever leased until VACUUM: read whole, it is a scan too.
        assert.doesNotMatch(plan, /node_executions_leases/, `${r.text.slice(0, 300)}…\n→\n${plan}`);
      }
  });
});

/**
 * Until its first ANALYZE PostgreSQL guesses what every condition selects, and autovacuum gets to a
 * table a minute or more after it fills: after a bulk load of 1,000,000 executions a history filter
 * took 1.1 s a request. The worker's minute sweep analyses such tables itself.
 */
describe('tables that fill before autovacuum analyses them get statistics (PostgreSQL)', { skip: !STORE_KINDS.includes('postgres') }, () => {
  const { ctx, test } = onFreshSchema();

  test('analyses a filled table nobody analysed, once, and leaves small ones alone', async () => {
    const { store, admin } = ctx;
    await admin.query('ALTER TABLE executions SET (autovacuum_enabled = false)');
    await admin.query(`INSERT INTO executions (id, workspace_id, workflow_id, workflow_version, status, "trigger", variables, created_at, deadline_at)
                       SELECT 'bulk-' || g, 'ws-1', 'c-1', 1, 'finish', 'api', '{}', 1, 2 FROM generate_series(1, 20000) g`);
    // The activity counters reach pg_stat_user_tables within a second or so of the commit.
    const stat = async (column: string) =>
      (await admin.query(`SELECT ${column} AS v FROM pg_stat_user_tables WHERE schemaname = current_schema() AND relname = 'executions'`)).rows[0]?.v;
    for (let i = 0; i < 50 && Number((await stat('n_live_tup')) ?? 0) < 20_000; i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(await store.analyzeNewTables(), ['executions'], 'only the table that filled');
    assert.ok(await stat('last_analyze'), 'analysed');
    assert.deepEqual(await store.analyzeNewTables(), [], 'once analysed, autovacuum keeps it');
  });
});

/**
 * The status reads and the accept are prepared by name on each connection (sql/statements.ts `prepared`). A migration
 * of a newer version may add a column while this process runs; a prepared `SELECT *` would then fail
 * with "cached plan must not change result type" on every connection that had prepared it.
 */
describe('prepared statements outlive a migration that adds a column (PostgreSQL)', { skip: !STORE_KINDS.includes('postgres') }, () => {
  // One connection, so the second read runs where the first one prepared its statements.
  const { ctx, test } = onFreshSchema((t) => openPostgresStore({ connectionString: TEST_DATABASE_URL, schema: t.config.databaseSchema, poolSize: 1 }));

  test('reads a run, its nodes and attempts before and after ALTER TABLE … ADD COLUMN', async () => {
    const { store, admin } = ctx;
    const executionId = newExecutionId(20_000);
    const nodes = [{ nodeId: 'a', kind: 'http', deps: [] }];
    const [r] = await store.runs.acceptMany([
      { execution: { executionId, workspaceId: 'ws-1', canvasId: 'c-1', version: 1, trigger: 'api', variables: { a: 1 }, nodes, now: 20_000, deadlineAt: 1e13 } },
    ]);
    assert.equal(r!.type, 'created');
    await store.queue.settleAndClaim({ workerId: 'w1', now: 20_001, leaseMs: 60_000, completions: [], claim: 10 }, SCHEDULING_RULES);
    const read = async () => ({
      run: await store.runs.getExecution('ws-1', executionId),
      nodes: await store.runs.listNodes(executionId),
      attempts: await store.runs.listAttempts(executionId),
    });
    const before = await read();
    assert.deepEqual(before.run?.variables, { a: 1 });
    assert.equal(before.attempts.length, 1);
    for (const t of ['executions', 'node_executions', 'node_attempts']) await admin.query(`ALTER TABLE ${t} ADD COLUMN added_later TEXT NOT NULL DEFAULT 'x'`);
    assert.deepEqual(await read(), before);
    // The accept statement is prepared too, and names the columns it writes: the new one takes its default.
    const [again] = await store.runs.acceptMany([
      { execution: { executionId: newExecutionId(20_002), workspaceId: 'ws-1', canvasId: 'c-1', version: 1, trigger: 'api', variables: {}, nodes, now: 20_002, deadlineAt: 1e13 } },
    ]);
    assert.equal(again!.type, 'created');
  });
});

/**
 * After five runs PostgreSQL may keep one generic plan for a prepared statement until the table is
 * next analysed; made while the table is empty, a plan for keys behind an InitPlan was a sequential
 * scan, kept as the table grew. Every statement prepared by name must plan as index lookups on a new,
 * empty database: those prepared everywhere by their shape, the worker's turn statements on the
 * queue's connections, where sequential scans are off (postgres/open.ts). There an index read whole
 * (no Index Cond) would be the same scan by another name.
 */
describe('statements prepared by name plan as index lookups on an empty database (PostgreSQL)', { skip: !STORE_KINDS.includes('postgres') }, () => {
  const { ctx, test } = onFreshSchema();

  test('takes the generic plan of each', async () => {
    const { store, admin } = ctx;
    // What a status read, the backlog bound, an accept and worker turns run; each registers its texts on first use.
    await store.runs.getExecution('ws-1', 'we-none');
    await store.runs.listNodes('we-none');
    await store.runs.listAttempts('we-none');
    await store.queue.pendingExecutions(10);
    await store.runs.acceptMany([{ call: { recordId: 'wc-plan', webhookId: 'wh_plan', status: 'rejected', httpStatus: 401, responseTime: 1, bodySize: 0, duplicate: false, createdAt: 1 } }]);
    await turnsOfEveryKind(store);
    const texts = preparedTexts();
    assert.ok(texts.filter((t) => !t.queueOnly).length >= 4, `prepared everywhere: ${texts.length}`);
    assert.ok(texts.filter((t) => t.queueOnly).length >= 7, `prepared for the queue: ${texts.length}`);
    assert.ok(texts.some((t) => t.queueOnly && t.text.includes('INSERT INTO event_attempts')), 'the dispatcher turn');
    await admin.query('SET plan_cache_mode = force_generic_plan');
    for (const [i, { text, queueOnly }] of texts.entries()) {
      await admin.query(`SET enable_seqscan = ${queueOnly ? 'off' : 'on'}`);
      const params = Math.max(0, ...[...text.matchAll(/\$(\d+)/g)].map((m) => Number(m[1])));
      await admin.query(`PREPARE generic_${i} AS ${text}`);
      const args = params ? `(${Array.from({ length: params }, () => 'NULL').join(', ')})` : '';
      const plan = (await admin.query(`EXPLAIN EXECUTE generic_${i}${args}`)).rows.map((r: Record<string, string>) => r['QUERY PLAN']).join('\n');
      assert.doesNotMatch(plan, /Seq Scan/, `${text}\n→\n${plan}`);
      if (!queueOnly) continue;
      for (const node of plan.split('->').filter((n) => /^\s*(Bitmap Index Scan|Index Scan|Index Only Scan)\b/.test(n))) {
        assert.match(node, /Index Cond/, `an index read whole:\n${text}\n→\n${plan}`);
      }
    }
  });
});

/**
 * Worker turns that write every part of the turn statements: results that release, skip and finish;
 * a retry; a failure; the events they produce (an endpoint listens); then a dispatcher's turns.
 */
async function turnsOfEveryKind(store: Store): Promise<void> {
  await store.outbox.createEndpoint({ id: 'ep-plan', workspaceId: 'ws-1', url: 'https://example.com/plan', enabled: true, ordered: false, secret: 'whsec_cGxhbg==', createdAt: 1, updatedAt: 1 });
  const nodes = [
    { nodeId: 'a', kind: 'http', deps: [] },
    { nodeId: 'c', kind: 'condition', deps: ['a'] },
    { nodeId: 'b', kind: 'http', deps: ['c'] },
    { nodeId: 'x', kind: 'http', deps: [] },
  ];
  const runs = [newExecutionId(30_000), newExecutionId(30_000)];
  await store.runs.acceptMany(runs.map((executionId) => ({ execution: { executionId, workspaceId: 'ws-1', canvasId: 'c-1', version: 1, trigger: 'api' as const, variables: {}, nodes, now: 30_000, deadlineAt: 1e13 } })));
  const turn = (completions: Completion[], claim: number, now: number) => store.queue.settleAndClaim({ workerId: 'w', now, leaseMs: 60_000, completions, claim }, SCHEDULING_RULES);
  const done = (c: ClaimedWork, result: NodeResult): Completion => ({ executionId: c.executionId, nodeId: c.nodeId, attempt: c.attempt, result });
  let claimed = (await turn([], 100, 30_001)).claimed;
  // Run 1: a finishes (c is released), x retries. Run 2: a finishes, x fails (the run fails).
  const of = (run: string, node: string) => claimed.find((c) => c.executionId === run && c.nodeId === node)!;
  claimed = (
    await turn(
      [
        done(of(runs[0]!, 'a'), { type: 'finished', output: 1 }),
        done(of(runs[0]!, 'x'), { type: 'retry', runAt: 30_002, errCode: 'UPSTREAM_ERROR', errMsg: 'again' }),
        done(of(runs[1]!, 'a'), { type: 'finished', output: 1 }),
        done(of(runs[1]!, 'x'), { type: 'failed', errCode: 'UPSTREAM_ERROR', errMsg: 'no' }),
      ],
      100,
      30_002,
    )
  ).claimed;
  // The condition is false: b is skipped; x finishes: run 1 ends.
  const outcome = await turn([done(of(runs[0]!, 'c'), { type: 'finished', output: false }), done(of(runs[0]!, 'x'), { type: 'finished', output: 2 })], 0, 30_003);
  assert.deepEqual(outcome.ended, [{ executionId: runs[0]!, status: 'finish' }]);
  // A dispatcher delivers what the endpoint heard, and its turn of successes claims the next.
  const deliver = (completions: CompleteMessageInput[], claim: number) =>
    store.outbox.settleAndClaimMessages({ workerId: 'd', completions, claim, now: 30_004, leaseMs: 60_000, rules: deliveryRules(1e12) });
  const sent = (await deliver([], 2)).claimed;
  assert.equal(sent.length, 2);
  const succeeded = (c: (typeof sent)[number]): CompleteMessageInput => ({
    messageId: c.message.id,
    workerId: 'd',
    attempt: { attempt: c.attempt, startedAt: 30_004, finishedAt: 30_004, latencyMs: 1, httpStatus: 204, outcome: 'succeeded' },
    next: { type: 'succeeded' },
    now: 30_004,
  });
  assert.deepEqual((await deliver(sent.map(succeeded), 2)).applied, [true, true]);
}
