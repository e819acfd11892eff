import { MAX_RETRY_AFTER_MS } from '../engine/retry.ts';

/** FLOWGATE_DELIVERY_RETRY_SCHEDULE: seconds before each attempt; the first is immediate. */
export const DEFAULT_DELIVERY_SCHEDULE_S = [0, 5, 300, 1800, 7200, 18000, 36000, 36000];

/**
 * When attempt `round + 1` of a message is due after attempt `round` failed, or undefined when the
 * schedule is spent (the message is given up). Each delay is jittered by ±20% so a downstream that
 * comes back is not hit by every waiting message in the same second; a `Retry-After` is a floor,
 * clamped to an hour.
 */
export function nextDeliveryAt(scheduleS: readonly number[], round: number, now: number, retryAfterMs: number | undefined, random: () => number): number | undefined {
  if (round >= scheduleS.length) return undefined;
  const jittered = scheduleS[round]! * 1000 * (0.8 + 0.4 * random());
  const floor = retryAfterMs === undefined ? 0 : Math.min(retryAfterMs, MAX_RETRY_AFTER_MS);
  return now + Math.round(Math.max(jittered, floor));
}
