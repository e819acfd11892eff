/**
 * Idempotency keys that live only seconds (Refly's 1 s body debounce), kept in this process's memory
 * when the store has no other process (SQLite). In the store each such key cost a write to a random
 * leaf of the key index per accepted run — a third of the bytes every ingest commit flushed — for a
 * promise that expires before a restarted process could accept its first retry anyway.
 *
 * Keys are inserted in time order and (in practice) with one window length, so expired entries sit at
 * the front of the map and are dropped from there; `get` checks expiry either way.
 */
export interface RecentKey {
  executionId: string;
  requestHash: string;
  /** The answer a repeat gets (as the store keeps it for longer-lived keys). */
  response: unknown;
  expiresAt: number;
}

/** Keys remembered for at most this long may be kept in memory; longer ones belong in the store. */
export const RECENT_KEY_MAX_MS = 10_000;

export class RecentKeys {
  private readonly keys = new Map<string, RecentKey>();

  get(key: string, now: number): RecentKey | undefined {
    const k = this.keys.get(key);
    return k && k.expiresAt > now ? k : undefined;
  }

  remember(key: string, entry: RecentKey, now: number): void {
    this.sweep(now);
    // Re-inserted, so insertion order stays expiry order.
    this.keys.delete(key);
    this.keys.set(key, entry);
  }

  get size(): number {
    return this.keys.size;
  }

  private sweep(now: number): void {
    for (const [key, entry] of this.keys) {
      if (entry.expiresAt > now) return;
      this.keys.delete(key);
    }
  }
}
