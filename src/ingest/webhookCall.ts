import { createHash } from 'node:crypto';
import type { Config } from '../config.ts';
import { fail, type Result } from '../errors.ts';
import type { Accepted, RunTrigger, TriggerRequest } from '../runs/trigger.ts';
import type { WebhookRecord } from '../store/store.ts';
import type { RateLimits } from './rateLimit.ts';
import { DEFAULT_DEDUPE_WINDOW_HOURS, dedupeKey } from './dedupe.ts';
import { verifySignature } from './verifiers.ts';

/** Refly's debounce: a byte-identical body within this window is the same event. */
export const DEBOUNCE_MS = 1000;
/**
 * How long a sender's own delivery id (webhook-id/svix-id, X-GitHub-Delivery, a Stripe event id) is
 * remembered: senders retry for up to about three days (Stripe: 3 days; Svix: ~28 hours), and every
 * retry within that answers with the first execution.
 */
export const SENDER_DEDUPE_MS = DEFAULT_DEDUPE_WINDOW_HOURS * 3600 * 1000;

export interface WebhookCallInput {
  webhook: WebhookRecord;
  rawBody: Buffer;
  /** The parsed body: JSON, or an object for form-encoded bodies; undefined when empty. */
  body: unknown;
  /** Lower-cased header names. */
  headers: Record<string, string | undefined>;
  nowMs: number;
  /** The call's history record, committed with the run it starts. */
  call: TriggerRequest['webhookCall'];
}

export type WebhookCallOutcome = Result<Accepted> & { rateHeaders: Record<string, string> };

/**
 * One call to a webhook URL, after the webhook was found: enabled check, rate limit, signature,
 * body mode, then the same accept path as the API (committed before the answer), deduplicated by
 * Idempotency-Key (24 h), the sender's delivery id (72 h), or — failing both — the body bytes within 1 s.
 */
export async function acceptWebhookCall(deps: { trigger: RunTrigger; rateLimits: RateLimits; config: Config }, input: WebhookCallInput): Promise<WebhookCallOutcome> {
  const { webhook, headers } = input;
  const none = {};
  if (!webhook.enabled) return { ...fail('WEBHOOK_DISABLED'), rateHeaders: none };

  const limits = {
    perMinute: webhook.rateLimit?.perMinute ?? deps.config.rateLimitPerMinute,
    perDay: webhook.rateLimit?.perDay ?? deps.config.rateLimitPerDay,
  };
  // A webhook with its own limits has its own counters; otherwise all webhooks of the workspace share one.
  const key = webhook.rateLimit ? `webhook:${webhook.webhookId}` : `ws:${webhook.workspaceId}:webhook`;
  const rate = await deps.rateLimits.consume(key, limits);
  if (!rate.allowed) return { ...fail('WEBHOOK_RATE_LIMITED', `Webhook rate limit exceeded; retry in ${rate.retryAfterS} s`), rateHeaders: rate.headers };

  let senderId: string | undefined;
  if (webhook.signature) {
    const v = verifySignature({ rawBody: input.rawBody, headers, signature: webhook.signature, nowMs: input.nowMs });
    if (!v.ok) return { ...fail('INVALID_SIGNATURE', `Invalid ${webhook.signature.scheme} signature: ${v.message}`), rateHeaders: rate.headers };
    senderId = v.idempotencyKey;
  }

  if (webhook.bodyMode !== 'raw' && /^application\/x-www-form-urlencoded/i.test(headers['content-type'] ?? '')) {
    return {
      ...fail('UNSUPPORTED_MEDIA_TYPE', 'This webhook takes JSON {"variables": {...}}; to accept form posts, set its bodyMode to "raw" (POST /v1/webhook/update)'),
      rateHeaders: rate.headers,
    };
  }
  const body = webhook.bodyMode === 'raw' ? { variables: { [webhook.rawVariable!]: rawValue(webhook, input.body) } } : input.body;
  // The webhook's own rule first (when it finds a key), then the sender's delivery id.
  const ruled = webhook.dedupe ? await dedupeKey(webhook.dedupe, dedupeBody(webhook, body), headers) : undefined;
  const sender = ruled ?? senderId ?? headers['webhook-id'] ?? headers['svix-id'];
  const explicit = headers['idempotency-key'] ?? sender;
  const bodyHash = explicit === undefined ? createHash('sha256').update(input.rawBody).digest('hex') : undefined;
  const r = await deps.trigger.trigger({
    workspaceId: webhook.workspaceId,
    canvasId: webhook.canvasId,
    body,
    trigger: 'webhook',
    triggeredBy: webhook.webhookId,
    triggerHeaders: forwardedHeaders(webhook, headers),
    idempotencyKey: explicit ?? `body:${bodyHash}`,
    requestHash: bodyHash,
    idempotencyScope: `webhook:${webhook.canvasId}`,
    idempotencyKeyOnly: !headers['idempotency-key'] && ruled !== undefined,
    idempotencyTtlMs: headers['idempotency-key'] ? undefined : ruled ? (webhook.dedupe!.windowHours ?? DEFAULT_DEDUPE_WINDOW_HOURS) * 3_600_000 : sender ? SENDER_DEDUPE_MS : DEBOUNCE_MS,
    whileInProgress: 'wait',
    ignoreApiDisabled: true,
    webhookCall: input.call,
  });
  return r.ok ? { ok: true, value: r.value, rateHeaders: rate.headers } : { ok: false, error: r.error, rateHeaders: rate.headers };
}

/** What a dedupe rule reads as `body`: the sender's payload, whichever body mode delivers it. */
function dedupeBody(webhook: Pick<WebhookRecord, 'bodyMode' | 'rawVariable'>, body: unknown): unknown {
  return webhook.bodyMode === 'raw' ? (body as { variables: Record<string, unknown> }).variables[webhook.rawVariable!] : body;
}

/** Request headers a run sees by default, per signature scheme: what tells one event from another. */
const DEFAULT_FORWARD: Record<string, string[]> = {
  github: ['x-github-event', 'x-github-delivery', 'x-github-hook-id'],
  'standard-webhooks': ['webhook-id', 'webhook-timestamp'],
  stripe: [],
  'hmac-sha256': [],
  none: [],
};

/** Never passed to a run, whatever the allow-list says: credentials and signatures. */
export const NEVER_FORWARDED = /^(authorization|proxy-authorization|cookie|set-cookie|x-api-key|x-refly-api-key|stripe-signature|webhook-signature|svix-signature|x-hub-signature(-256)?)$/i;

const HEADER_VALUE_MAX = 1024;

/** The headers of this call the webhook passes on as `trigger.headers` (lower-cased names). */
export function forwardedHeaders(webhook: Pick<WebhookRecord, 'forwardHeaders' | 'signature'>, headers: Record<string, string | undefined>): Record<string, string> | undefined {
  const names = webhook.forwardHeaders ?? DEFAULT_FORWARD[webhook.signature?.scheme ?? 'none'] ?? [];
  const out: Record<string, string> = {};
  for (const name of names) {
    const key = name.toLowerCase();
    const value = headers[key];
    if (value !== undefined && !NEVER_FORWARDED.test(key)) out[key] = value.slice(0, HEADER_VALUE_MAX);
  }
  return Object.keys(out).length ? out : undefined;
}

/**
 * The value a raw-mode webhook hands its variable. GitHub's form-encoded deliveries carry the event as
 * JSON in a `payload` field: on a `github` webhook that field is parsed, so both delivery formats give
 * the workflow the same object.
 */
function rawValue(webhook: Pick<WebhookRecord, 'signature'>, body: unknown): unknown {
  if (webhook.signature?.scheme === 'github' && body && typeof body === 'object' && typeof (body as { payload?: unknown }).payload === 'string') {
    try {
      return JSON.parse((body as { payload: string }).payload);
    } catch {
      return body;
    }
  }
  return body ?? null;
}

/** Form-encoded bodies become an object; a repeated field becomes an array. */
export function parseForm(text: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of new URLSearchParams(text)) {
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}
