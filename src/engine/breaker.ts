/**
 * Circuit breakers per downstream host. After `threshold` consecutive failures a host is
 * open for `coolOffMs`: nodes that need it go back to the queue as `waiting` until then, without an
 * attempt and without spending retry budget. When the cool-off ends, one probe goes through
 * (half-open); its success closes the breaker and the waiting nodes run, its failure opens it again.
 *
 * State lives in this worker process: each worker learns a host's health from its own calls. A
 * dead host then costs each worker `threshold` calls per cool-off, not one per node.
 */
export type Gate = { pass: true } | { pass: false; until: number };

interface HostState {
  failures: number;
  openUntil: number;
  probing: boolean;
}

export class CircuitBreakers {
  private readonly hosts = new Map<string, HostState>();

  constructor(
    private readonly threshold: number,
    private readonly coolOffMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  private state(host: string): HostState {
    let s = this.hosts.get(host);
    if (!s) {
      s = { failures: 0, openUntil: 0, probing: false };
      this.hosts.set(host, s);
    }
    return s;
  }

  /** Whether a call to `host` may go now; while open (or a probe is out) it says until when to wait. */
  check(host: string): Gate {
    const s = this.hosts.get(host);
    if (!s || s.failures < this.threshold) return { pass: true };
    const now = this.now();
    if (now < s.openUntil) return { pass: false, until: s.openUntil };
    if (s.probing) return { pass: false, until: now + Math.min(1000, this.coolOffMs) };
    s.probing = true;
    return { pass: true };
  }

  success(host: string): void {
    this.hosts.delete(host);
  }

  failure(host: string): void {
    const s = this.state(host);
    s.failures++;
    s.probing = false;
    if (s.failures >= this.threshold) s.openUntil = this.now() + this.coolOffMs;
  }

  /**
   * Hosts whose circuit is not closed, for /metrics: open, or past the cool-off and waiting for (or
   * running) its probe. Only a successful call closes a circuit, so time alone never hides one.
   */
  openHosts(): string[] {
    return [...this.hosts].filter(([, s]) => s.failures >= this.threshold).map(([h]) => h);
  }
}
