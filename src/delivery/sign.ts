import { Webhook } from 'standardwebhooks';
import type { EndpointRecord } from '../store/delivery.ts';

/**
 * The Standard Webhooks headers of one delivery: `webhook-id` (the message id, the same on every
 * retry and replay, so receivers can drop duplicates), `webhook-timestamp` (seconds) and
 * `webhook-signature` — one `v1,<base64 HMAC-SHA256 of id.timestamp.body>` per valid secret. During a
 * rotation's grace period both the new and the previous secret sign, space-separated, so receivers
 * holding either one verify.
 */
export function signedHeaders(endpoint: EndpointRecord, messageId: string, payload: string, now: number): Record<string, string> {
  const secrets = [endpoint.secret];
  if (endpoint.previousSecret && (endpoint.previousSecretExpiresAt ?? 0) > now) secrets.push(endpoint.previousSecret);
  const at = new Date(now);
  return {
    'webhook-id': messageId,
    'webhook-timestamp': String(Math.floor(now / 1000)),
    'webhook-signature': secrets.map((s) => new Webhook(s).sign(messageId, at, payload)).join(' '),
  };
}
