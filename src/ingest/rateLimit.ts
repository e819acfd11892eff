import type { Redis } from 'ioredis';
import type pg from 'pg';
import { RateLimiterMemory, RateLimiterPostgres, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';

/**
 * Trigger rate limits: a per-minute and a per-day window per key (workspace and surface,
 * or one webhook with its own limits). Counters are shared by every process: in Redis when
 * REDIS_URL is set, else in PostgreSQL's `rate_limits` table; with SQLite (one process) they live in
 * memory. If the shared store is unreachable the in-memory limiter stands in rather than refusing
 * all traffic.
 */
export interface Limits {
  perMinute: number;
  perDay: number;
}

export interface RateDecision {
  allowed: boolean;
  /** Refly's X-RateLimit-* and the IETF RateLimit-Policy / RateLimit headers, on every answer. */
  headers: Record<string, string>;
  retryAfterS?: number;
}

/**
 * With counters in PostgreSQL, a process takes points from the shared counter in blocks and hands
 * them out locally: one upsert per block instead of one per request (two per request measured at
 * half of PostgreSQL ingest). A block is at most 0.1% of the limit, so limits up to 1,000 per window
 * stay exact; a process holds at most two blocks (the next is taken once half of one is spent), so a
 * larger limit can be undercounted by at most 0.2% per process and window.
 */
const blockFor = (limit: number) => Math.max(1, Math.min(50, Math.floor(limit / 1000)));
const CREDIT_KEYS_MAX = 10_000;
/** Distinct per-minute limits whose fixed headers are kept (workspaces share the default; webhooks may set their own). */
const FIXED_MAX = 1_000;

interface Taken {
  allowed: boolean;
  remaining: number;
  msBeforeNext: number;
}

interface Credit {
  /** Points in hand. */
  left: number;
  /** The shared counter's remaining points when the last block was taken (the points in hand not counted). */
  remaining: number;
  expiresAt: number;
}

export class RateLimits {
  private readonly limiters = new Map<string, RateLimiterAbstract>();
  private readonly credit = new Map<string, Credit>();
  /** The block being taken for each window, if one is. */
  private readonly refills = new Map<string, Promise<Taken>>();
  /** Fixed headers by per-minute, then per-day limit. */
  private readonly fixed = new Map<number, Map<number, FixedHeaders>>();
  /** Whether points come from the shared counter in blocks: PostgreSQL without Redis (see blockFor). */
  private readonly takesBlocks: boolean;

  constructor(private readonly opts: { redis?: Redis; postgres?: { pool: pg.Pool; schema?: string }; keyPrefix?: string } = {}) {
    this.takesBlocks = opts.postgres !== undefined && opts.redis === undefined;
  }

  private limiter(points: number, duration: number): RateLimiterAbstract {
    const id = `${points}/${duration}`;
    let l = this.limiters.get(id);
    if (!l) {
      const keyPrefix = `${this.opts.keyPrefix ?? 'flowgate'}:rl:${duration}:${points}`;
      const memory = new RateLimiterMemory({ points, duration, keyPrefix });
      const { redis, postgres } = this.opts;
      if (redis) l = new RateLimiterRedis({ storeClient: redis, points, duration, keyPrefix, insuranceLimiter: memory });
      else if (postgres) {
        l = new RateLimiterPostgres({
          storeClient: postgres.pool,
          schemaName: postgres.schema,
          tableName: 'rate_limits',
          // Migration 0006 created it; letting each process CREATE it would race on a cold start.
          tableCreated: true,
          clearExpiredByTimeout: true,
          points,
          duration,
          keyPrefix,
          insuranceLimiter: memory,
        });
      } else l = memory;
      this.limiters.set(id, l);
    }
    return l;
  }

  async consume(key: string, limits: Limits): Promise<RateDecision> {
    // Most calls are served from the block in hand, without a turn of the event loop.
    const minute = this.fromCredit(key, limits.perMinute, 60) ?? (await this.take(key, limits.perMinute, 60));
    const day = minute.allowed ? (this.fromCredit(key, limits.perDay, 86_400) ?? (await this.take(key, limits.perDay, 86_400))) : undefined;
    return decision(this.fixedHeaders(limits), minute, day);
  }

  /** The headers that depend on the limits alone, built once per pair of limits. */
  private fixedHeaders(limits: Limits): FixedHeaders {
    const cached = this.fixed.get(limits.perMinute)?.get(limits.perDay);
    if (cached) return cached;
    if (this.fixed.size >= FIXED_MAX) this.fixed.clear();
    const headers: FixedHeaders = {
      policy: `"minute";q=${limits.perMinute};w=60, "day";q=${limits.perDay};w=86400`,
      perMinute: String(limits.perMinute),
      perDay: String(limits.perDay),
    };
    const byDay = this.fixed.get(limits.perMinute) ?? new Map<number, FixedHeaders>();
    this.fixed.set(limits.perMinute, byDay.set(limits.perDay, headers));
    return headers;
  }

  /**
   * A point from the block this process holds for `key`'s window, if it holds one that is not spent
   * or expired. Once half a block is spent the next one is taken in the background, so calls at a
   * steady rate never wait for the shared counter (at c = 50 each block was spent in one burst, and
   * every call after it waited for the next).
   */
  private fromCredit(key: string, limit: number, seconds: number): Taken | undefined {
    if (!this.takesBlocks) return undefined;
    const id = `${seconds}:${limit}:${key}`;
    const c = this.credit.get(id);
    const now = Date.now();
    if (!c || c.left <= 0 || now >= c.expiresAt) return undefined;
    c.left--;
    const block = blockFor(limit);
    if (c.left < block / 2 && !this.refills.has(id)) this.refill(id, key, limit, seconds, block).catch(() => undefined);
    return { allowed: true, remaining: c.remaining + c.left, msBeforeNext: c.expiresAt - now };
  }

  private async take(key: string, limit: number, seconds: number): Promise<Taken> {
    const block = this.takesBlocks ? blockFor(limit) : 1;
    if (block === 1) return this.takeShared(key, limit, seconds, 1);
    const id = `${seconds}:${limit}:${key}`;
    for (;;) {
      const credited = this.fromCredit(key, limit, seconds);
      if (credited) return credited;
      // Calls that find the credit spent while a block is being taken wait for that block instead of
      // each taking one (at c = 50 they arrive together and would upsert 50 times).
      const res = await (this.refills.get(id) ?? this.refill(id, key, limit, seconds, block));
      if (!res.allowed) return res;
    }
  }

  /** Takes a block from the shared counter into this process's credit for the window; one at a time per window. */
  private refill(id: string, key: string, limit: number, seconds: number, block: number): Promise<Taken> {
    const taking = this.takeShared(key, limit, seconds, block)
      .then((res) => {
        if (res.allowed) {
          const now = Date.now();
          const held = this.credit.get(id);
          // The shared counter's remaining points once the whole block is taken.
          const remaining = res.remaining - (block - 1);
          if (held && now < held.expiresAt) Object.assign(held, { left: held.left + block, remaining });
          else {
            if (this.credit.size >= CREDIT_KEYS_MAX) this.credit.clear();
            this.credit.set(id, { left: block, remaining, expiresAt: now + res.msBeforeNext });
          }
        }
        return res;
      })
      .finally(() => this.refills.delete(id));
    this.refills.set(id, taking);
    return taking;
  }

  /** Takes `points` from the shared counter; `remaining` counts the points just taken as still left. */
  private async takeShared(key: string, limit: number, seconds: number, points: number): Promise<Taken> {
    try {
      const res = await this.limiter(limit, seconds).consume(key, points);
      return { allowed: true, remaining: res.remainingPoints + points - 1, msBeforeNext: res.msBeforeNext };
    } catch (e) {
      if (!(e instanceof RateLimiterRes)) throw e;
      return { allowed: false, remaining: 0, msBeforeNext: e.msBeforeNext };
    }
  }
}

interface FixedHeaders {
  policy: string;
  perMinute: string;
  perDay: string;
}

/**
 * Refly's X-RateLimit-* and the IETF RateLimit-Policy / RateLimit headers of a call: the tightest
 * window that allowed it, or the one that refused it (no `day`: the minute window refused it, and the
 * day window was not consulted). One literal per outcome (a spread given more properties would be a
 * V8 dictionary, on every call).
 */
function decision(fixed: FixedHeaders, minute: Taken, day: Taken | undefined): RateDecision {
  const m = { remaining: Math.max(0, minute.remaining), resetS: Math.ceil(minute.msBeforeNext / 1000) };
  if (!day) {
    const retryAfterS = Math.max(1, m.resetS);
    return {
      allowed: false,
      retryAfterS,
      headers: {
        'ratelimit-policy': fixed.policy,
        'x-ratelimit-limit-rpm': fixed.perMinute,
        'x-ratelimit-remaining-rpm': String(m.remaining),
        'x-ratelimit-limit-daily': fixed.perDay,
        ratelimit: `"minute";r=0;t=${m.resetS}`,
        'retry-after': String(retryAfterS),
      },
    };
  }
  const d = { remaining: Math.max(0, day.remaining), resetS: Math.ceil(day.msBeforeNext / 1000) };
  const refusedBy = day.allowed ? undefined : d;
  const tightest = refusedBy ?? (d.remaining < m.remaining ? d : m);
  const name = tightest === d ? 'day' : 'minute';
  const headers: Record<string, string> = {
    'ratelimit-policy': fixed.policy,
    'x-ratelimit-limit-rpm': fixed.perMinute,
    'x-ratelimit-remaining-rpm': String(m.remaining),
    'x-ratelimit-limit-daily': fixed.perDay,
    'x-ratelimit-remaining-daily': String(d.remaining),
    ratelimit: `"${name}";r=${refusedBy ? 0 : tightest.remaining};t=${tightest.resetS}`,
  };
  if (!refusedBy) return { allowed: true, headers };
  const retryAfterS = Math.max(1, d.resetS);
  headers['retry-after'] = String(retryAfterS);
  return { allowed: false, headers, retryAfterS };
}
