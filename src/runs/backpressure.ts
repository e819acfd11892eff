import type { Store } from '../store/store.ts';

/** How stale the backlog figure may be: one cheap COUNT per interval, not one per request. */
const REFRESH_MS = 250;

/**
 * A bounded backlog. Past `max` unstarted executions, new triggers are refused with 503
 * and Retry-After instead of piling up until memory or disk gives out. The count comes from the
 * store (so it covers every API process) and is refreshed in the background.
 */
export class Backpressure {
  private pending = 0;
  private refreshedAt = 0;
  private refreshing?: Promise<void>;

  constructor(
    private readonly store: Store,
    private readonly max: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether a new trigger may be accepted. Never waits on the store except on the very first call. */
  async admit(): Promise<boolean> {
    if (this.now() - this.refreshedAt > REFRESH_MS) {
      // Counted up to the bound: past it the answer is the same, and a deep backlog costs no more.
      this.refreshing ??= this.store.queue
        .pendingExecutions(this.max)
        .then((n) => {
          this.pending = n;
          this.refreshedAt = this.now();
        })
        // A store outage is answered by the commit that follows; the gate just keeps its last figure.
        .catch(() => undefined)
        .finally(() => (this.refreshing = undefined));
      if (this.refreshedAt === 0) await this.refreshing;
    }
    return this.pending < this.max;
  }

  /** Counts an accepted trigger until the next refresh, so a burst cannot overshoot by a whole interval. */
  accepted(): void {
    this.pending++;
  }
}
