import type { Store } from '../store/store.ts';
import { webhookSilentEvent } from './payloads.ts';

/**
 * `webhook.silent`: a webhook with `expectedEvery` that heard nothing — no accepted call,
 * and no change to its settings — for that long is flagged once per silence; the next accepted call
 * re-arms it. Returns how many were flagged now.
 */
export async function flagSilentWebhooks(store: Store, now: number): Promise<number> {
  let flagged = 0;
  for (const w of await store.webhooks.silenceWatch()) {
    const quietSince = Math.max(w.lastCallAt ?? 0, w.updatedAt);
    if (now - quietSince < w.expectedEvery * 1000) continue;
    if (w.silentAt !== undefined && w.silentAt >= quietSince) continue;
    if (await store.webhooks.markSilent(w.webhookId, w.silentAt, now, webhookSilentEvent({ ...w, quietSince }, now))) flagged++;
  }
  return flagged;
}
