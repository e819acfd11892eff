import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { coerceError, type ErrorCode } from '../errors.ts';
import { newWorkerId } from '../ids.ts';
import type { Metrics } from '../metrics.ts';
import { nodeKey, type ClaimedNode, type NodeResult, type Store } from '../store/store.ts';
import type { RetryPolicy, WorkflowDefinition } from '../workflows/definition.ts';
import type { Bus } from './bus.ts';
import { evalContext } from './context.ts';
import { sweepExpiredFiles } from '../files/sweeper.ts';
import type { FileStorage } from '../files/storage.ts';
import { taskFiles } from '../files/taskFiles.ts';
import { CircuitBreakers } from './breaker.ts';
import { nextRetryDelay } from './retry.ts';
import { describeDrift, driftBetween, shapeOf, type Drift, type Shape } from './shape.ts';
import { runTask } from './tasks/index.ts';
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
  claim: ClaimedNode;
  controller: AbortController;
  done: Promise<void>;
}

const DEFINITION_CACHE_MAX = 1000;

/**
 * The durable DAG scheduler of one process. It claims runnable nodes from the store under a lease,
 * runs them with a bounded concurrency, and reports each attempt back; the store decides in the same
 * transaction what becomes runnable next. Nothing lives only in memory: a crash at any point leaves
 * the store able to hand the same work to the next worker once the lease expires.
 */
export class Worker {
  readonly id = newWorkerId();
  private readonly inFlight = new Map<string, InFlight>();
  private readonly definitions = new Map<string, WorkflowDefinition>();
  private running = false;
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
      const released = await store.releaseLeases(null, this.now());
      if (released) this.deps.logger.warn({ released }, 'released leases left by a previous process');
    }
    this.running = true;
    this.unsubscribe = await store.subscribeWork(this.wake).catch((err) => {
      this.deps.logger.warn({ err }, 'cannot LISTEN for new work; polling only');
      return async () => {};
    });
    bus.on('execution.created', this.wake);
    bus.on('execution.abort', this.onAbort);
    // Heartbeats double as the cross-process abort signal: a node whose lease vanished was aborted
    // or timed out elsewhere, so it is cancelled within one heartbeat (SPEC §4.7: within 1 s).
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
    await this.unsubscribe?.();
    // Whatever did not finish goes back to the queue now rather than after the lease expires, without
    // spending its retry budget: being shut down is not the node's failure.
    await this.deps.store.releaseLeases(this.id, this.now());
  }

  get busy(): number {
    return this.inFlight.size;
  }

  private readonly wake = (): void => {
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
    const { store, config, logger } = this.deps;
    while (this.running) {
      const free = config.workerConcurrency - this.inFlight.size;
      let claimed: ClaimedNode[] = [];
      if (free > 0) {
        try {
          claimed = await store.claimNodes(this.id, free, this.now(), config.leaseMs);
        } catch (e) {
          logger.error({ err: coerceError(e) }, 'claiming nodes failed; retrying after the poll interval');
        }
        for (const c of claimed) this.start1(c);
      }
      // A full batch means there may be more waiting; otherwise sleep until woken or the poll ends.
      if (claimed.length > 0 && claimed.length === free) continue;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, config.pollMs);
        this.wakeUp = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  private start1(claim: ClaimedNode): void {
    const controller = new AbortController();
    const key = nodeKey(claim.executionId, claim.nodeId);
    const entry: InFlight = { claim, controller, done: Promise.resolve() };
    entry.done = this.execute(claim, controller)
      .catch((e) => this.deps.logger.error({ err: coerceError(e), node: key }, 'node bookkeeping failed; the lease will expire and it will run again'))
      .finally(() => {
        this.inFlight.delete(key);
        this.wake();
      });
    this.inFlight.set(key, entry);
  }

  private async definition(canvasId: string, version: number): Promise<WorkflowDefinition | undefined> {
    const k = `${canvasId}@${version}`;
    let def = this.definitions.get(k);
    if (!def) {
      def = await this.deps.store.getWorkflowVersion(canvasId, version);
      if (!def) return undefined;
      if (this.definitions.size >= DEFINITION_CACHE_MAX) this.definitions.delete(this.definitions.keys().next().value as string);
      this.definitions.set(k, def);
    }
    return def;
  }

  private async execute(claim: ClaimedNode, controller: AbortController): Promise<void> {
    const { store, config, logger, metrics, bus } = this.deps;
    const execution = await store.loadExecution(claim.executionId);
    const workflow = execution && (await this.definition(execution.canvasId, execution.version));
    const task = workflow?.tasks.find((t) => t.id === claim.nodeId);
    let outcome: TaskOutcome;
    const started = this.now();
    if (!execution || !workflow || !task) {
      outcome = { type: 'failed', errCode: 'INTERNAL_ERROR', message: 'execution or task definition missing', retryable: false };
    } else {
      const nodes = await store.listNodes(claim.executionId);
      const timeoutMs = task.timeoutMs ?? config.nodeTimeoutMs;
      const timer = setTimeout(() => controller.abort({ code: 'NODE_TIMEOUT' }), timeoutMs);
      try {
        outcome = await this.run({
          task,
          workflow,
          context: evalContext(execution, nodes),
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
    if (outcome.type === 'finished' && task?.kind === 'http' && !task.expect && execution) {
      outcome = { ...outcome, drift: await this.checkDrift(execution.canvasId, task.id, (outcome.output as { body?: unknown }).body) };
    }
    const finished = this.now();
    if ((controller.signal.reason as { code?: string } | undefined)?.code === 'WORKER_LOST') return;
    metrics?.nodeDuration.observe({ kind: task?.kind ?? 'unknown', outcome: outcome.type }, (finished - started) / 1000);
    const result = this.toResult({ ...workflow?.retry, ...task?.retry }, claim.attempt, outcome, finished);
    const done = await store.completeNode({ ...claim, workerId: this.id, result, now: finished });
    if (!done.applied) {
      logger.info({ executionId: claim.executionId, nodeId: claim.nodeId }, 'node result dropped: lease lost (aborted, timed out or reclaimed)');
      return;
    }
    if (result.type === 'retry') logger.info({ executionId: claim.executionId, nodeId: claim.nodeId, runAt: result.runAt, errCode: result.errCode }, 'node will retry');
    if (done.executionStatus) {
      metrics?.executionsEnded.inc({ status: done.executionStatus });
      bus.emit('execution.terminal', claim.executionId, done.executionStatus);
    }
  }

  private toResult(policy: RetryPolicy, attempt: number, outcome: TaskOutcome, now: number): NodeResult {
    switch (outcome.type) {
      case 'finished':
        return { type: 'finished', output: outcome.output, messages: outcome.messages, usage: outcome.usage, httpStatus: outcome.httpStatus, drift: outcome.drift };
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
        return { type: 'deferred', runAt: outcome.runAt };
      default: {
        const never: never = outcome;
        throw new Error(`unhandled outcome ${JSON.stringify(never)}`);
      }
    }
  }

  /** Records the response's shape for its task and reports what changed since the last one. */
  private async checkDrift(canvasId: string, nodeId: string, body: unknown): Promise<Drift | undefined> {
    const shape = shapeOf(body);
    const prev = await this.deps.store.swapResponseShape(canvasId, nodeId, JSON.stringify(shape), this.now());
    const drift = prev === undefined ? undefined : driftBetween(JSON.parse(prev) as Shape, shape);
    if (drift) {
      this.deps.metrics?.contractDrift.inc();
      this.deps.logger.warn({ canvasId, nodeId, drift: describeDrift(drift) }, 'contract drift: a response changed shape');
    }
    return drift;
  }

  private async heartbeat(): Promise<void> {
    if (this.inFlight.size === 0) return;
    // Only nodes we held before the query can be judged by it: a claim that lands while the
    // heartbeat is in flight is not in its answer, and must not be mistaken for a lost lease.
    const asked = [...this.inFlight.keys()];
    try {
      const held = await this.deps.store.heartbeat(this.id, this.now(), this.deps.config.leaseMs);
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
      const requeued = await store.requeueExpiredLeases(now);
      if (requeued) {
        logger.warn({ requeued }, 'requeued nodes whose worker stopped heartbeating');
        this.wake();
      }
      for (const id of await store.timeOutExecutions(now)) {
        this.cancelExecution(id, 'EXECUTION_TIMEOUT');
        this.deps.metrics?.executionsEnded.inc({ status: 'failed' });
        bus.emit('execution.terminal', id, 'failed');
      }
      if (now - this.lastSweep >= 60_000) {
        this.lastSweep = now;
        await store.deleteExpiredIdempotencyKeys(now);
        if (this.deps.storage) await sweepExpiredFiles(store, this.deps.storage, now);
      }
    } catch (e) {
      logger.warn({ err: coerceError(e) }, 'maintenance pass failed');
    }
  }
}
