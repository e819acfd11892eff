import type { DeliveryRules } from '../store/delivery.ts';
import { endpointDisabledEvent } from './payloads.ts';

/**
 * When an endpoint stops being tried: after failing without a single success for
 * `disableAfterMs` (FLOWGATE_ENDPOINT_DISABLE_AFTER_MS, 5 days by default), the way Svix and Stripe
 * give up on a dead receiver. A 410 Gone disables it at once (the dispatcher decides that one).
 */
export function deliveryRules(disableAfterMs: number): DeliveryRules {
  return {
    disableReason(failingSince, now) {
      const failingFor = now - failingSince;
      if (failingFor < disableAfterMs) return undefined;
      return `failing for ${Math.round(failingFor / 60_000)} min (since ${new Date(failingSince).toISOString()})`;
    },
    endpointDisabled: endpointDisabledEvent,
  };
}
