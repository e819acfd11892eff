import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { newWorkerId } from '../ids.ts';
import type { Metrics } from '../metrics.ts';
import type { ClaimedMessage, MessageNext } from '../store/delivery.ts';
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
 * A claimed message stays ours this long: a delivery never takes longer than its timeout, so no
 * heartbeat is needed. A dispatcher that dies mid-delivery delays that message by at most this.
 */
const leaseFor = (timeoutMs: number) => timeoutMs + 5_000;

/**
 * Delivers outbound events (SPEC §4.12). Runs in every worker process; they share the queue in the
 * store, so a message is sent by whichever claims it, and one whose dispatcher died is claimed again
 * after its lease. At-least-once: a receiver may see a message twice, always with the same
 * `webhook-id`.
 */
export class Dispatcher {
  readonly id = newWorkerId().replace(/^wk-/, 'dl-');
  private running = false;
  private loopDone?: Promise<void>;
  private readonly inFlight = new Set<Promise<void>>();
  private timers: NodeJS.Timeout[] = [];
  private wakeUp?: () => void;
  private unsubscribe?: () => Promise<void>;
  private readonly now: () => number;
  private readonly random: () => number;
  /** Token buckets for endpoints with a rate limit (per process). */
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly deps: DispatcherDeps) {
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
  }

  async start(): Promise<void> {
    const { store, config } = this.deps;
    if (store.singleProcess) {
      // Only this process uses the database: whatever is marked in flight was left by a dead one.
      await store.requeueMessages({ expiredBefore: Number.MAX_SAFE_INTEGER }, this.now());
    }
    this.running = true;
    this.unsubscribe = await store.subscribeWork(this.wake).catch(() => async () => {});
    this.timers.push(setInterval(() => void this.requeueExpired(), 1000));
    this.timers.push(setInterval(() => void this.checkSilence(), config.silenceCheckMs));
    this.loopDone = this.loop();
  }

  /** Stops claiming, lets deliveries in flight end (they are bounded by the delivery timeout), releases the rest. */
  async stop(graceMs = this.deps.config.shutdownGraceMs): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.wake();
    await this.loopDone;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.unsubscribe?.();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(this.inFlight), new Promise((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    await this.deps.store.requeueMessages({ owner: this.id }, this.now()).catch(() => 0);
  }

  wake = (): void => {
    this.wakeUp?.();
  };

  /** One round: claim what is due (up to the free concurrency) and start sending it. For tests and the loop. */
  async tick(): Promise<number> {
    const { store, config } = this.deps;
    const free = config.deliveryConcurrency - this.inFlight.size;
    if (free <= 0) return 0;
    const claimed = await store.claimMessages(this.id, free, this.now(), leaseFor(config.deliveryTimeoutMs));
    for (const c of claimed) {
      const p = this.deliver(c).catch((err) => this.deps.logger.error({ err, messageId: c.message.id }, 'delivery bookkeeping failed'));
      this.inFlight.add(p);
      void p.finally(() => {
        this.inFlight.delete(p);
        this.wake();
      });
    }
    return claimed.length;
  }

  /** Resolves when nothing is in flight (tests). */
  async idle(): Promise<void> {
    while (this.inFlight.size) await Promise.all(this.inFlight);
  }

  private async loop(): Promise<void> {
    while (this.running) {
      let got = 0;
      try {
        got = await this.tick();
      } catch (err) {
        this.deps.logger.warn({ err }, 'claiming outbound events failed; retrying');
      }
      if (got > 0 && this.inFlight.size < this.deps.config.deliveryConcurrency) continue;
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

  private async deliver(c: ClaimedMessage): Promise<void> {
    const { store, config, metrics } = this.deps;
    const { message, endpoint } = c;
    const wait = this.rateLimitWait(endpoint.id, endpoint.rateLimit);
    if (wait > 0) {
      await store.deferMessage(message.id, this.id, c.attempt, this.now() + wait, this.now());
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
    const applied = await store.completeMessage({
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
      disableAfterMs: config.endpointDisableAfterMs,
      now: finishedAt,
    });
    if (!applied) this.deps.logger.warn({ messageId: message.id }, 'delivery finished after its lease was lost; another dispatcher owns it');
    else if (!ok) this.deps.logger.info({ messageId: message.id, endpointId: endpoint.id, status: sent.httpStatus, error, next: next.type }, 'event delivery failed');
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
      const n = await this.deps.store.requeueMessages({ expiredBefore: this.now() }, this.now());
      if (n) this.deps.logger.warn({ requeued: n }, 'outbound events whose dispatcher stopped were re-queued');
    } catch (err) {
      this.deps.logger.warn({ err }, 'lease sweep for outbound events failed');
    }
  }

  async checkSilence(): Promise<number> {
    try {
      return await this.deps.store.flagSilentWebhooks(this.now());
    } catch (err) {
      this.deps.logger.warn({ err }, 'silence check failed');
      return 0;
    }
  }
}
