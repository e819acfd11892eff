/**
 * A short-lived in-process cache for the reads every request makes (its API key and workspace, a
 * trigger's workflow and webhook).
 * Writes made through this process forget their key at once; another process's write is seen within
 * `ttlMs` (1 s by default) — the price of not reading the store twice per accepted call. Misses are
 * not cached, so something created elsewhere is found at once.
 */
export class ReadCache<V> {
  private readonly entries = new Map<string, { value: V; at: number }>();
  /** Loads under way: a burst of requests that find the entry expired share one read. */
  private readonly loading = new Map<string, Promise<V | undefined>>();
  /** Bumped by every forget/clear: a load that started before a write must not cache what it read. */
  private generation = 0;

  constructor(
    private readonly ttlMs = 1000,
    private readonly max = 1000,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The value if it is cached and fresh, without a promise: every request reads three or four
   * of these, and a hit is the rule. Undefined sends the caller to `get`.
   */
  fresh(key: string): V | undefined {
    const hit = this.entries.get(key);
    return hit && this.now() - hit.at < this.ttlMs ? hit.value : undefined;
  }

  async get(key: string, load: () => Promise<V | undefined>): Promise<V | undefined> {
    const hit = this.fresh(key);
    if (hit !== undefined) return hit;
    const generation = this.generation;
    let pending = this.loading.get(key);
    if (!pending) {
      pending = load().finally(() => this.loading.delete(key));
      this.loading.set(key, pending);
    }
    const value = await pending;
    if (value === undefined || generation !== this.generation) return value;
    if (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(key, { value, at: this.now() });
    return value;
  }

  forget(key: string): void {
    this.generation++;
    this.entries.delete(key);
    this.loading.delete(key);
  }

  /** Forgets everything (for writes that cannot name the key, such as revoking an API key by id). */
  clear(): void {
    this.generation++;
    this.entries.clear();
    this.loading.clear();
  }
}
