import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { coerceError, type ErrorCode } from '../errors.ts';
import { newWorkerId } from '../ids.ts';
import type { Metrics } from '../metrics.ts';
import { nodeKey, type ClaimedWork, type CompleteNodeOutcome, type Completion, type ExecutionRecord, type NodeResult, type Store } from '../store/store.ts';
import type { RetryPolicy, WorkflowDefinition } from '../workflows/definition.ts';
import type { Bus } from './bus.ts';
import { evalContext } from './context.ts';
import { sweepExpiredFiles } from '../files/sweeper.ts';
import type { FileStorage } from '../files/storage.ts';
import { taskFiles } from '../files/taskFiles.ts';
import { CircuitBreakers } from './breaker.ts';
import { nextRetryDelay } from './retry.ts';
import { SCHEDULING_RULES } from './rules.ts';
import { describeDrift, shapeOf, type Drift } from './shape.ts';
import { runTask } from './tasks/index.ts';
import { evaluateInline } from './inline.ts';
import type { TaskInput, TaskOutcome } from './tasks/types.ts';

export interface WorkerDeps {
  store: Store;
  config: Config;
  logger: Logger;
  bus: Bus;
  metrics?: Metrics;
  /** Where file bytes live; without it, tasks cannot read or produce files. */
  storage?: FileStorage;
  now?: () => number;
  random?: () => number;
  /** The task runner; tests never replace it, but a benchmark may measure the scheduler alone. */
  run?: (input: TaskInput) => Promise<TaskOutcome>;
}

interface InFlight {
  claim: ClaimedWork;
  controller: AbortController;
  done: Promise<void>;
}

const DEFINITION_CACHE_MAX = 1000;
// canvasIds are unique per workspace, so the workspace is part of the key.
const definitionKey = (e: Pick<ExecutionRecord, 'workspaceId' | 'canvasId' | 'version'>) => `${e.workspaceId}/${e.canvasId}@${e.version}`;
/** A result still uncommitted after this many failed turns is given up (its node runs again). */
const MAX_FAILED_TURNS = 5;
/**
 * Tasks shorter than this on average (most recent ones weigh most) let the worker hold more claimed
 * nodes than it has slots, the rest waiting for a slot (see `depth`).
 */
const FAST_TASK_MS = 50;

/**
 * The durable DAG scheduler of one process. It works in turns: each turn settles every attempt that
 * ended since the last one and claims the next runnable nodes, in one transaction of the store
 * (`settleAndClaim`), so nodes ending together share a commit. Claimed nodes run with a bounded
 * concurrency; their results wait in memory for the next turn while their leases stay held, so a
 * crash at any point leaves the store able to hand the same work to the next worker once the lease
 * expires — a finished node's result is lost only if it was never committed, and then it runs again.
 */
export class Worker {
  readonly id = newWorkerId();
  private readonly inFlight = new Map<string, InFlight>();
  private readonly definitions = new Map<string, WorkflowDefinition>();
  /** Attempts that ended and wait for the next turn to be committed. */
  private readonly ended: Completion[] = [];
  /** Failed turns each waiting result was part of: a result no turn can commit must not hold the others back. */
  private readonly failedTurns = new WeakMap<Completion, number>();
  /** Claimed nodes running a task now, at most `workerConcurrency`; the others in `inFlight` wait for a slot in `waiting`. */
  private executing = 0;
  private readonly waiting: (() => void)[] = [];
  /** The recent mean duration of the tasks this worker ran (exponentially weighted), in ms. */
  private taskMs = 0;
  private running = false;
  /** Set by a wake-up; a wake-up that arrives during a turn makes the loop turn again instead of sleeping. */
  private dirty = false;
  private wakeUp?: () => void;
  private loopDone?: Promise<void>;
  private timers: NodeJS.Timeout[] = [];
  private lastSweep = 0;
  private unsubscribe?: () => Promise<void>;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly run: (input: TaskInput) => Promise<TaskOutcome>;

  readonly breakers: CircuitBreakers;

  constructor(private readonly deps: WorkerDeps) {
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
    this.run = deps.run ?? runTask;
    this.breakers = new CircuitBreakers(deps.config.breakerThreshold, deps.config.breakerCoolOffMs, this.now);
    deps.metrics?.watchBreakers(this.breakers);
  }

  async start(): Promise<void> {
    const { store, bus, config } = this.deps;
    if (store.singleProcess) {
      const released = await store.queue.releaseLeases(null, this.now());
      if (released) this.deps.logger.warn({ released }, 'released leases left by a previous process');
    }
    this.running = true;
    this.unsubscribe = await store.subscribeWork('nodes', this.wake).catch((err) => {
      this.deps.logger.warn({ err }, 'cannot LISTEN for new work; polling only');
      return async () => {};
    });
    bus.on('execution.created', this.wake);
    bus.on('execution.abort', this.onAbort);
    // Heartbeats double as the cross-process abort signal: a node whose lease vanished was aborted
    // or timed out elsewhere, so it is cancelled within one heartbeat.
    const beat = Math.min(500, Math.floor(config.leaseMs / 3));
    this.timers.push(setInterval(() => void this.heartbeat(), beat));
    this.timers.push(setInterval(() => void this.reap(), 1000));
    this.loopDone = this.loop();
  }

  /** Stops claiming, lets nodes in flight finish for up to `graceMs`, then cancels and releases the rest. */
  async stop(graceMs = this.deps.config.shutdownGraceMs): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.wake();
    this.deps.bus.off('execution.created', this.wake);
    this.deps.bus.off('execution.abort', this.onAbort);
    await this.loopDone;
    const all = Promise.all([...this.inFlight.values()].map((f) => f.done));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    for (const f of this.inFlight.values()) f.controller.abort({ code: 'WORKER_LOST' });
    // Cancelled attempts write nothing (see execute); give them a moment to unwind before the release.
    await Promise.race([Promise.all([...this.inFlight.values()].map((f) => f.done)), new Promise((r) => setTimeout(r, 1000))]);
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    // Results that ended during the grace period are committed before their leases are given back.
    for (let i = 0; i < 3 && this.ended.length > 0; i++) {
      if ((await this.turn(0)) === 'error') await new Promise((r) => setTimeout(r, 200));
    }
    await this.unsubscribe?.();
    // Whatever did not finish goes back to the queue now rather than after the lease expires, without
    // spending its retry budget: being shut down is not the node's failure.
    await this.deps.store.queue.releaseLeases(this.id, this.now());
  }

  get busy(): number {
    return this.inFlight.size;
  }

  private readonly wake = (): void => {
    this.dirty = true;
    const w = this.wakeUp;
    this.wakeUp = undefined;
    w?.();
  };

  private readonly onAbort = (executionId: string): void => this.cancelExecution(executionId, 'EXECUTION_ABORTED');

  private cancelExecution(executionId: string, code: ErrorCode): void {
    for (const f of this.inFlight.values()) {
      if (f.claim.executionId === executionId) f.controller.abort({ code });
    }
  }

  private async loop(): Promise<void> {
    const { config } = this.deps;
    while (this.running) {
      // One macrotask per turn: the SQLite driver answers in microtasks, so without this yield a busy
      // worker would starve the HTTP server and the tasks' own I/O.
      await new Promise((r) => setImmediate(r));
      const outcome = await this.turn(this.depth() * config.workerConcurrency - this.inFlight.size);
      if (outcome === 'more' || (outcome !== 'error' && (this.dirty || this.ended.length > 0))) continue;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, config.pollMs);
        this.wakeUp = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /**
   * How many slots' worth of claimed nodes to hold: more than one while tasks are fast, else one. A
   * turn waits on the store, and with only as many claimed as there are slots, fast tasks (a loopback
   * call takes about a millisecond) leave their slots idle until it returns; nodes claimed ahead start
   * as slots free. On PostgreSQL a turn is round trips the worker only waits on, and four slots' worth
   * drained 14% faster than two (`bench:drain`); SQLite's turn runs on this thread, where four drained
   * 5% slower than two. With slow tasks a claimed node could wait seconds for a slot while another
   * worker idles, so none are claimed ahead. Waiting nodes count as in flight: heartbeats keep their
   * leases, aborts reach them.
   */
  private depth(): number {
    if (this.taskMs >= FAST_TASK_MS) return 1;
    return this.deps.store.singleProcess ? 2 : 4;
  }

  /**
   * Settles every attempt that ended since the last turn and claims up to `free` nodes, in one
   * transaction. 'more' when the claim came back full (there may be more waiting).
   */
  private async turn(free: number): Promise<'more' | 'idle' | 'error'> {
    const { store, config, logger, metrics, bus } = this.deps;
    this.dirty = false;
    const completions = this.ended.splice(0);
    const claim = this.running ? Math.max(0, free) : 0;
    if (completions.length === 0 && claim === 0) return 'idle';
    let out;
    try {
      out = await store.queue.settleAndClaim({ workerId: this.id, now: this.now(), completions, claim, leaseMs: config.leaseMs }, this.rules);
    } catch (e) {
      // Nothing of the turn committed: keep the results for the next one (their leases are still held),
      // except one that was in MAX_FAILED_TURNS failed turns: it is dropped, its lease expires and the
      // node runs again, as if this worker had died.
      const kept = completions.filter((c) => {
        const n = (this.failedTurns.get(c) ?? 0) + 1;
        this.failedTurns.set(c, n);
        if (n < MAX_FAILED_TURNS) return true;
        logger.error({ executionId: c.executionId, nodeId: c.nodeId }, 'node result could not be committed; the lease will expire and it will run again');
        return false;
      });
      this.ended.unshift(...kept);
      logger.error({ err: coerceError(e) }, 'worker turn failed; retrying after the poll interval');
      return 'error';
    }
    out.settled.forEach((s, i) => this.report(completions[i]!, s));
    for (const e of out.ended) {
      metrics?.executionsEnded.inc({ status: e.status });
      bus.emit('execution.terminal', e.executionId, e.status);
    }
    for (const c of out.claimed) this.start1(c);
    if (out.evaluated) metrics?.nodesEvaluatedInTurn.inc(out.evaluated);
    return out.more ? 'more' : 'idle';
  }

  private readonly rules = { ...SCHEDULING_RULES, evaluate: (work: ClaimedWork) => this.evaluate(work) };

  /**
   * Runs a claimed transform, condition or output inside the turn that claimed it, so its result
   * commits with the claim (a finished node still never runs again: these have no side effects).
   * Only with the definition already cached — the store's transaction cannot wait on another read —
   * and only for a result that settles the node; anything else runs the usual way.
   */
  private async evaluate(work: ClaimedWork): Promise<NodeResult | undefined> {
    const { execution } = work;
    const workflow = this.definitions.get(definitionKey(execution));
    const task = workflow?.tasks.find((t) => t.id === work.nodeId);
    if (!workflow || !task) return undefined;
    const started = this.now();
    const outcome = await evaluateInline(task, workflow, evalContext(execution, work.ended), work.executionId, work.attempt, this.deps.config, this.run);
    if (!outcome) return undefined;
    const finished = this.now();
    this.deps.metrics?.nodeDuration.observe({ kind: task.kind, outcome: outcome.type }, (finished - started) / 1000);
    return this.toResult({ ...workflow.retry, ...task.retry }, work.attempt, outcome, finished);
  }

  private report(c: Completion, s: CompleteNodeOutcome): void {
    const { logger, metrics } = this.deps;
    const where = { executionId: c.executionId, nodeId: c.nodeId };
    if (!s.applied) return logger.info(where, 'node result dropped: lease lost (aborted, timed out or reclaimed)');
    if (c.result.type === 'retry') logger.info({ ...where, runAt: c.result.runAt, errCode: c.result.errCode }, 'node will retry');
    if (s.drift !== undefined) {
      metrics?.contractDrift.inc();
      logger.warn({ ...where, drift: describeDrift(s.drift as Drift) }, 'contract drift: a response changed shape');
    }
  }

  private start1(claim: ClaimedWork): void {
    const controller = new AbortController();
    const key = nodeKey(claim.executionId, claim.nodeId);
    const entry: InFlight = { claim, controller, done: Promise.resolve() };
    entry.done = this.inSlot(claim, controller)
      .catch((e) => this.deps.logger.error({ err: coerceError(e), node: key }, 'node bookkeeping failed; the lease will expire and it will run again'))
      .finally(() => {
        this.inFlight.delete(key);
        this.wake();
      });
    this.inFlight.set(key, entry);
  }

  /** Runs a claimed node once one of the `workerConcurrency` slots is free; a slot passes straight to the next waiting node. */
  private async inSlot(claim: ClaimedWork, controller: AbortController): Promise<void> {
    if (this.executing < this.deps.config.workerConcurrency) this.executing++;
    else await new Promise<void>((r) => this.waiting.push(r));
    try {
      // Stopping: a node that has not started does not start (the grace period is for the running
      // ones); its lease is given back with the rest.
      if (!this.running) return;
      await this.execute(claim, controller);
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.executing--;
    }
  }

  private async definition(execution: ExecutionRecord): Promise<WorkflowDefinition | undefined> {
    const k = definitionKey(execution);
    let def = this.definitions.get(k);
    if (!def) {
      def = await this.deps.store.catalog.getWorkflowVersion(execution.workspaceId, execution.canvasId, execution.version);
      if (!def) return undefined;
      if (this.definitions.size >= DEFINITION_CACHE_MAX) this.definitions.delete(this.definitions.keys().next().value as string);
      this.definitions.set(k, def);
    }
    return def;
  }

  private async execute(claim: ClaimedWork, controller: AbortController): Promise<void> {
    const { store, config, metrics } = this.deps;
    const { execution } = claim;
    const workflow = await this.definition(execution);
    const task = workflow?.tasks.find((t) => t.id === claim.nodeId);
    let outcome: TaskOutcome;
    const started = this.now();
    if (!workflow || !task) {
      outcome = { type: 'failed', errCode: 'INTERNAL_ERROR', message: 'task definition missing', retryable: false };
    } else {
      const timeoutMs = task.timeoutMs ?? config.nodeTimeoutMs;
      const timer = setTimeout(() => controller.abort({ code: 'NODE_TIMEOUT' }), timeoutMs);
      try {
        outcome = await this.run({
          task,
          workflow,
          context: evalContext(execution, claim.ended),
          executionId: claim.executionId,
          attempt: claim.attempt,
          signal: controller.signal,
          config,
          breakers: this.breakers,
          files: this.deps.storage
            ? taskFiles({ store, storage: this.deps.storage, config, workspaceId: execution.workspaceId, executionId: execution.executionId, nodeId: task.id, now: this.now })
            : undefined,
        });
      } finally {
        clearTimeout(timer);
      }
    }
    const finished = this.now();
    this.taskMs = 0.9 * this.taskMs + 0.1 * (finished - started);
    if ((controller.signal.reason as { code?: string } | undefined)?.code === 'WORKER_LOST') return;
    metrics?.nodeDuration.observe({ kind: task?.kind ?? 'unknown', outcome: outcome.type }, (finished - started) / 1000);
    // Without `expect`, an http response's shape is kept and compared with the last one (drift).
    const responseShape =
      outcome.type === 'finished' && task?.kind === 'http' && !task.expect ? JSON.stringify(shapeOf((outcome.output as { body?: unknown }).body)) : undefined;
    const result = this.toResult({ ...workflow?.retry, ...task?.retry }, claim.attempt, outcome, finished);
    const sent = outcome.type === 'deferred' ? undefined : maskSecrets(outcome.input, config.templateEnv);
    this.ended.push({ executionId: claim.executionId, nodeId: claim.nodeId, attempt: claim.attempt, result, finishedAt: finished, responseShape, input: sent });
  }

  private toResult(policy: RetryPolicy, attempt: number, outcome: TaskOutcome, now: number): NodeResult {
    switch (outcome.type) {
      case 'finished':
        return { type: 'finished', output: outcome.output, messages: outcome.messages, usage: outcome.usage, httpStatus: outcome.httpStatus };
      case 'failed': {
        const delay = outcome.retryable ? nextRetryDelay(policy, attempt, outcome.retryAfterMs, this.random) : undefined;
        if (delay !== undefined) {
          return { type: 'retry', runAt: now + delay, errCode: outcome.errCode, errMsg: outcome.message, httpStatus: outcome.httpStatus };
        }
        return {
          type: 'failed',
          errCode: outcome.errCode,
          errMsg: outcome.message,
          messages: outcome.messages,
          usage: outcome.usage,
          httpStatus: outcome.httpStatus,
        };
      }
      case 'deferred':
        return { type: 'deferred', runAt: outcome.runAt, host: outcome.host };
      default: {
        const never: never = outcome;
        throw new Error(`unhandled outcome ${JSON.stringify(never)}`);
      }
    }
  }

  private async heartbeat(): Promise<void> {
    if (this.inFlight.size === 0) return;
    // Only nodes we held before the query can be judged by it: a claim that lands while the
    // heartbeat is in flight is not in its answer, and must not be mistaken for a lost lease.
    const asked = [...this.inFlight.keys()];
    const runs = [...this.inFlight.values()].map((f) => f.claim.executionId);
    try {
      const held = await this.deps.store.queue.heartbeat(this.id, runs, this.now(), this.deps.config.leaseMs);
      for (const key of asked) {
        if (!held.has(key)) this.inFlight.get(key)?.controller.abort({ code: 'EXECUTION_ABORTED' });
      }
    } catch (e) {
      this.deps.logger.warn({ err: coerceError(e) }, 'heartbeat failed');
    }
  }

  private async reap(): Promise<void> {
    const { store, logger, bus } = this.deps;
    try {
      const now = this.now();
      const requeued = await store.queue.requeueExpiredLeases(now);
      if (requeued) {
        logger.warn({ requeued }, 'requeued nodes whose worker stopped heartbeating');
        this.wake();
      }
      for (const id of await store.runs.timeOutExecutions(now)) {
        this.cancelExecution(id, 'EXECUTION_TIMEOUT');
        this.deps.metrics?.executionsEnded.inc({ status: 'failed' });
        bus.emit('execution.terminal', id, 'failed');
      }
      if (now - this.lastSweep >= 60_000) {
        this.lastSweep = now;
        await store.runs.deleteExpiredIdempotencyKeys(now);
        if (this.deps.storage) await sweepExpiredFiles(store, this.deps.storage, now);
        const analysed = await store.analyzeNewTables();
        if (analysed.length) logger.info({ tables: analysed }, 'gathered planner statistics for tables never analysed');
      }
    } catch (e) {
      logger.warn({ err: coerceError(e) }, 'maintenance pass failed');
    }
  }
}

/**
 * The values templates read from `$env` (FLOWGATE_TEMPLATE_ENV) are secrets: wherever one appears in
 * what an attempt sent, the record shows `[redacted]` instead. Very short values are left alone, since
 * masking them would garble the record without protecting anything.
 */
export function maskSecrets(input: unknown, env: Readonly<Record<string, string>>): unknown {
  const secrets = Object.values(env).filter((v) => v.length >= 4);
  if (input === undefined || secrets.length === 0) return input;
  let text = JSON.stringify(input);
  for (const value of secrets) {
    const encoded = JSON.stringify(value).slice(1, -1);
    text = text.split(encoded).join('[redacted]');
  }
  return JSON.parse(text) as unknown;
}
