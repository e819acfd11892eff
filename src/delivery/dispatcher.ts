import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { newWorkerId } from '../ids.ts';
import type { Metrics } from '../metrics.ts';
import type { ClaimedMessage, CompleteMessageInput, DeliveryRules, MessageNext } from '../store/delivery.ts';
import { deliveryRules } from './rules.ts';
import { flagSilentWebhooks } from './silence.ts';
import type { Store } from '../store/store.ts';
import { nextDeliveryAt } from './schedule.ts';
import { sendEvent } from './send.ts';
import { signedHeaders } from './sign.ts';

export interface DispatcherDeps {
  store: Store;
  config: Config;
  logger: Logger;
  metrics?: Metrics;
  /** Injectable for tests: the schedule and leases are judged by this clock. */
  now?: () => number;
  random?: () => number;
}

/**
 * A claimed message stays ours this long: it waits in the ready queue for at most one delivery's
 * timeout and a delivery never takes longer than its timeout, so no heartbeat is needed. A
 * dispatcher that dies mid-delivery delays that message by at most this.
 */
const leaseFor = (timeoutMs: number) => 2 * timeoutMs + 5_000;

/** A delivery whose HTTP call ended, with what to log once it is recorded. */
interface Finished {
  input: CompleteMessageInput;
  failure?: { endpointId: string; status?: number; error?: string; next: MessageNext['type'] };
  /** For an ordered endpoint: its next message waits for this one's turn. */
  ordered: boolean;
  /** Turns that failed while this was in them. */
  failedTurns?: number;
}

const MAX_FAILED_TURNS = 3;
/** Deliveries are fast (see `depth`) while their mean latency is under this share of the timeout. */
const FAST_SHARE = 8;

/**
 * Delivers outbound events. Runs in every worker process; they share the queue in the
 * store, so a message is sent by whichever claims it, and one whose dispatcher died is claimed again
 * after its lease. At-least-once: a receiver may see a message twice, always with the same
 * `webhook-id`.
 */
export class Dispatcher {
  readonly id = newWorkerId().replace(/^wk-/, 'dl-');
  private running = false;
  /** Set by stop(): turns settle what finished but claim nothing new. */
  private stopping = false;
  private loopDone?: Promise<void>;
  /** Deliveries whose HTTP call is under way; each resolves once its outcome is queued below. */
  private readonly sending = new Set<Promise<void>>();
  /** Finished deliveries waiting for the next turn to record them. */
  private completions: Finished[] = [];
  /**
   * Claimed messages waiting for a free slot. A turn claims up to `depth()` times the concurrency,
   * so a delivery that ends starts the next one at once instead of waiting for a turn's commit: the
   * turns settle and refill in the background while the slots stay busy.
   */
  private ready: { claim: ClaimedMessage; leaseUntil: number }[] = [];
  /** Recent deliveries' mean latency (exponentially weighted), in ms: how long a claimed message may wait in `ready`. */
  private latencyMs: number;
  private timers: NodeJS.Timeout[] = [];
  private wakeUp?: () => void;
  private unsubscribe?: () => Promise<void>;
  private readonly now: () => number;
  private readonly random: () => number;
  /** Token buckets for endpoints with a rate limit (per process). */
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  private readonly rules: DeliveryRules;

  constructor(private readonly deps: DispatcherDeps) {
    this.rules = deliveryRules(deps.config.endpointDisableAfterMs);
    // Until deliveries show otherwise they are assumed slow: the deep queue is for fast endpoints.
    this.latencyMs = deps.config.deliveryTimeoutMs / FAST_SHARE;
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
  }

  async start(): Promise<void> {
    const { store, config } = this.deps;
    if (store.singleProcess) {
      // Only this process uses the database: whatever is marked in flight was left by a dead one.
      await store.outbox.requeueMessages({ expiredBefore: Number.MAX_SAFE_INTEGER }, this.now());
    }
    this.running = true;
    this.unsubscribe = await store.subscribeWork('messages', this.wake).catch(() => async () => {});
    this.timers.push(setInterval(() => void this.requeueExpired(), 1000));
    this.timers.push(setInterval(() => void this.checkSilence(), config.silenceCheckMs));
    this.loopDone = this.loop();
  }

  /** Stops claiming, lets deliveries in flight end (they are bounded by the delivery timeout) and records them, releases the rest. */
  async stop(graceMs = this.deps.config.shutdownGraceMs): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.running = false;
    this.wake();
    await this.loopDone;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.unsubscribe?.();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(this.sending), new Promise((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    await this.turn().catch((err) => this.deps.logger.warn({ err }, 'recording the last outbound deliveries failed; their leases will expire'));
    await this.deps.store.outbox.requeueMessages({ owner: this.id }, this.now()).catch(() => 0);
  }

  wake = (): void => {
    this.wakeUp?.();
  };

  /**
   * One turn: record every delivery that finished since the last one and claim what is due (up to
   * the free concurrency), in one transaction, then start sending. For tests and the loop.
   */
  async tick(): Promise<number> {
    return this.turn();
  }

  /** Resolves when nothing is in flight and every finished delivery is recorded (tests). */
  async idle(): Promise<void> {
    while (this.sending.size || this.completions.length || this.ready.length) {
      this.pump();
      await Promise.all(this.sending);
      await this.turn(0);
    }
  }

  /**
   * How many slots' worth of messages to hold, in flight and waiting, while deliveries are fast: four
   * on SQLite, eight on PostgreSQL, whose turns take milliseconds of round trips and row work during
   * which the slots must not run dry; two otherwise. A deep queue lets a turn gather more outcomes
   * before it commits (below) while the slots stay busy; but a message waits in it for up to
   * `depth − 1` deliveries of each slot, and one claimed too long before its turn comes would outlive
   * its lease (`leaseFor`, two timeouts) and be claimed again. Fast means a mean latency under
   * 1/FAST_SHARE of the timeout, so seven deliveries of a slot take under one timeout.
   */
  private depth(): number {
    if (this.latencyMs >= this.deps.config.deliveryTimeoutMs / FAST_SHARE) return 2;
    return this.deps.store.singleProcess ? 4 : 8;
  }

  private async turn(claim = this.stopping ? 0 : Math.max(0, this.depth() * this.deps.config.deliveryConcurrency - this.sending.size - this.ready.length)): Promise<number> {
    const { store, config } = this.deps;
    const settling = this.completions;
    if (settling.length === 0 && claim === 0) return 0;
    this.completions = [];
    let r: Awaited<ReturnType<Store['outbox']['settleAndClaimMessages']>>;
    try {
      r = await store.outbox.settleAndClaimMessages({
        workerId: this.id,
        completions: settling.map((f) => f.input),
        claim,
        now: this.now(),
        leaseMs: leaseFor(config.deliveryTimeoutMs),
        rules: this.rules,
      });
    } catch (err) {
      // Kept for the next turn, except one that was in MAX_FAILED_TURNS failed turns: it is dropped so
      // it cannot hold up every turn after it; its lease expires and the message is sent again.
      const kept = settling.filter((f) => (f.failedTurns = (f.failedTurns ?? 0) + 1) < MAX_FAILED_TURNS);
      if (kept.length < settling.length) this.deps.logger.error({ dropped: settling.length - kept.length }, 'delivery outcomes could not be recorded; their messages will be sent again');
      this.completions = [...kept, ...this.completions];
      throw err;
    }
    settling.forEach((f, i) => {
      if (!r.applied[i]) this.deps.logger.warn({ messageId: f.input.messageId }, 'delivery finished after its lease was lost; another dispatcher owns it');
      else if (f.failure) this.deps.logger.info({ messageId: f.input.messageId, ...f.failure }, 'event delivery failed');
    });
    const leaseUntil = this.now() + leaseFor(config.deliveryTimeoutMs);
    for (const claim of r.claimed) this.ready.push({ claim, leaseUntil });
    this.pump();
    return r.claimed.length;
  }

  /** Starts ready messages while slots are free (not once stopping: stop() gives them back). */
  private pump(): void {
    const { config, logger } = this.deps;
    while (this.ready.length && this.sending.size < config.deliveryConcurrency && !this.stopping) {
      const { claim: c, leaseUntil } = this.ready.shift()!;
      const p = this.deliver(c, leaseUntil).catch((err) => logger.error({ err, messageId: c.message.id }, 'delivery bookkeeping failed'));
      this.sending.add(p);
      void p.finally(() => {
        this.sending.delete(p);
        this.pump();
        this.wake();
      });
    }
  }

  private async loop(): Promise<void> {
    while (this.running) {
      // A macrotask before each turn: the deliveries whose responses arrived in this I/O phase queue
      // their outcomes first and share the turn's commit (SQLite answers in microtasks, so without
      // this every turn would carry the one delivery that woke it).
      await new Promise((r) => setImmediate(r));
      // While enough claimed messages wait for slots, let outcomes gather (up to two slots' worth or
      // about 4 ms) so that one commit records many: a turn's fixed cost is most of what a small turn
      // costs. With fast deliveries, turns of 12 outcomes became turns of 26 and the server's CPU per
      // delivery fell by 13–15% (SQLite). Not once an ordered endpoint's outcome is in hand:
      // its next message can only be claimed after this one is recorded. Not on PostgreSQL: its
      // turns last long enough for outcomes to gather during the one before, and waiting more only
      // let the slots run dry (with the deeper queue of `depth`, 15–25% more deliveries/s).
      const concurrency = this.deps.config.deliveryConcurrency;
      const gathering = () =>
        this.deps.store.singleProcess && this.completions.length < 2 * concurrency && this.ready.length >= concurrency / 2 && !this.completions.some((f) => f.ordered);
      for (let waited = 0; this.running && gathering() && waited < 4; waited++) {
        await new Promise((r) => setTimeout(r, 1));
      }
      let got = 0;
      try {
        got = await this.turn();
      } catch (err) {
        this.deps.logger.warn({ err }, 'settling or claiming outbound events failed; retrying');
      }
      if (!this.running) break;
      const target = this.depth() * concurrency;
      if (this.completions.length || (got > 0 && this.sending.size + this.ready.length < target)) continue;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.deps.config.pollMs);
        this.wakeUp = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wakeUp = undefined;
    }
  }

  /** Sends one message and queues its outcome for the next turn. */
  private async deliver(c: ClaimedMessage, leaseUntil: number): Promise<void> {
    const { store, config, metrics } = this.deps;
    const { message, endpoint } = c;
    // Too little lease left to finish within the timeout (it waited in `ready` behind slow
    // deliveries): sent now, it could still be in flight when its lease ends and another dispatcher
    // claims it. It goes back to the queue at once, its attempt uncounted, rather than sitting
    // claimed until the lease runs out.
    if (leaseUntil - this.now() < config.deliveryTimeoutMs) {
      await store.outbox.deferMessage(message.id, this.id, c.attempt, this.now(), this.now());
      return;
    }
    const wait = this.rateLimitWait(endpoint.id, endpoint.rateLimit);
    if (wait > 0) {
      await store.outbox.deferMessage(message.id, this.id, c.attempt, this.now() + wait, this.now());
      return;
    }
    const startedAt = this.now();
    const sent = await sendEvent({
      url: endpoint.url,
      payload: message.payload,
      // Receivers compare webhook-timestamp with their own wall clock, so it is always the wall
      // clock, whatever clock schedules retries.
      signed: signedHeaders(endpoint, message.id, message.payload, Date.now()),
      headers: endpoint.headers,
      timeoutMs: config.deliveryTimeoutMs,
      allowPrivateNetworks: config.allowPrivateNetworks,
      now: this.now,
    });
    const finishedAt = this.now();
    this.latencyMs = 0.9 * this.latencyMs + 0.1 * sent.latencyMs;
    const ok = sent.httpStatus !== undefined && sent.httpStatus >= 200 && sent.httpStatus < 300;
    let next: MessageNext;
    if (ok) next = { type: 'succeeded' };
    else if (sent.httpStatus === 410) next = { type: 'disable_endpoint', reason: 'the endpoint answered 410 Gone' };
    else {
      const at = nextDeliveryAt(config.deliveryRetrySchedule, c.round, finishedAt, sent.retryAfterMs, this.random);
      next = at === undefined ? { type: 'failed' } : { type: 'retry', at };
    }
    metrics?.deliveryAttempts.observe({ outcome: next.type === 'disable_endpoint' ? 'disabled' : next.type }, sent.latencyMs / 1000);
    const error = ok ? undefined : (sent.error ?? `HTTP ${sent.httpStatus}`);
    this.completions.push({
      input: {
        messageId: message.id,
        workerId: this.id,
        attempt: {
          attempt: c.attempt,
          startedAt,
          finishedAt,
          httpStatus: sent.httpStatus,
          latencyMs: sent.latencyMs,
          responseExcerpt: sent.responseExcerpt,
          error,
          outcome: ok ? 'succeeded' : 'failed',
        },
        next,
        now: finishedAt,
      },
      failure: ok ? undefined : { endpointId: endpoint.id, status: sent.httpStatus, error, next: next.type },
      ordered: endpoint.ordered,
    });
  }

  /** Milliseconds to wait before this endpoint may be called again (0: go). */
  private rateLimitWait(endpointId: string, perSecond: number | undefined): number {
    if (!perSecond) return 0;
    const now = this.now();
    const b = this.buckets.get(endpointId) ?? { tokens: perSecond, at: now };
    b.tokens = Math.min(perSecond, b.tokens + ((now - b.at) / 1000) * perSecond);
    b.at = now;
    this.buckets.set(endpointId, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - b.tokens) / perSecond) * 1000);
  }

  private async requeueExpired(): Promise<void> {
    try {
      const n = await this.deps.store.outbox.requeueMessages({ expiredBefore: this.now() }, this.now());
      if (n) this.deps.logger.warn({ requeued: n }, 'outbound events whose dispatcher stopped were re-queued');
    } catch (err) {
      this.deps.logger.warn({ err }, 'lease sweep for outbound events failed');
    }
  }

  async checkSilence(): Promise<number> {
    try {
      return await flagSilentWebhooks(this.deps.store, this.now());
    } catch (err) {
      this.deps.logger.warn({ err }, 'silence check failed');
      return 0;
    }
  }
}
