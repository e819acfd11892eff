import type { RetryPolicy } from '../workflows/definition.ts';

/** The defaults of a task's `retry` (docs/reliability.md#retries). */
export const DEFAULT_RETRY: Required<RetryPolicy> = {
  maxAttempts: 3,
  initialDelayMs: 1000,
  factor: 2,
  maxDelayMs: 300_000,
};

/** A downstream's Retry-After is honoured, but never beyond this. */
export const MAX_RETRY_AFTER_MS = 3_600_000;

/**
 * Delay before attempt `attempt + 1`, or undefined when the budget is spent. Full jitter (AWS's
 * "exponential backoff and jitter"): uniform in [0, capped exponential], so a burst of failures does
 * not retry in lockstep. A Retry-After from the downstream is a floor.
 */
export function nextRetryDelay(
  policy: RetryPolicy | undefined,
  attempt: number,
  retryAfterMs: number | undefined,
  random: () => number,
): number | undefined {
  const p = { ...DEFAULT_RETRY, ...policy };
  if (attempt >= p.maxAttempts) return undefined;
  const ceiling = Math.min(p.maxDelayMs, p.initialDelayMs * p.factor ** (attempt - 1));
  const jittered = Math.floor(random() * ceiling);
  const floor = retryAfterMs === undefined ? 0 : Math.min(retryAfterMs, MAX_RETRY_AFTER_MS);
  return Math.max(jittered, floor);
}
