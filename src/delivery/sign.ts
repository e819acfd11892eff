import { createHmac } from 'node:crypto';
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
  const timestamp = String(Math.floor(now / 1000));
  const signed = `${messageId}.${timestamp}.${payload}`;
  return {
    'webhook-id': messageId,
    'webhook-timestamp': timestamp,
    'webhook-signature': secrets.map((s) => `v1,${hmac(s, signed)}`).join(' '),
  };
}

/**
 * node:crypto rather than the `standardwebhooks` package's signer, whose pure-JS SHA-256 was ~4% of a
 * delivery's CPU; receivers verify with that package (the tests do).
 */
const hmac = (secret: string, signed: string) =>
  createHmac('sha256', Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64'))
    .update(signed)
    .digest('base64');
