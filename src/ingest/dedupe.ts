import { evaluate, parseError } from '../engine/expressions.ts';
import type { WebhookDedupe } from '../store/store.ts';

/** Presets for the senders whose retries are known: where their delivery's identity is. */
export const DEDUPE_PRESETS = ['stripe', 'github', 'standard-webhooks'] as const;

/** Stripe retries for 3 days; the default window covers it. */
export const DEFAULT_DEDUPE_WINDOW_HOURS = 72;

/** Why `key` cannot be a dedupe key (undefined when it can): a preset, a JSON pointer or JSONata. */
export function dedupeKeyError(key: string): string | undefined {
  if ((DEDUPE_PRESETS as readonly string[]).includes(key)) return undefined;
  if (key.startsWith('/')) return /^(\/([^~/]|~[01])*)+$/.test(key) ? undefined : 'is not a JSON pointer (RFC 6901)';
  const err = parseError(key);
  return err ? `is not a preset (${DEDUPE_PRESETS.join(', ')}), a JSON pointer or a JSONata expression: ${err}` : undefined;
}

function pointer(doc: unknown, ptr: string): unknown {
  let cur = doc;
  for (const raw of ptr.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/**
 * The identity of this delivery under the webhook's dedupe rule, or undefined when the rule finds
 * none (the built-in rules then apply). JSONata sees `{body, headers}` (lower-cased header names).
 */
export async function dedupeKey(rule: WebhookDedupe, body: unknown, headers: Record<string, string | undefined>): Promise<string | undefined> {
  let value: unknown;
  if (rule.key === 'stripe') value = (body as { id?: unknown } | null)?.id;
  else if (rule.key === 'github') value = headers['x-github-delivery'];
  else if (rule.key === 'standard-webhooks') value = headers['webhook-id'] ?? headers['svix-id'];
  else if (rule.key.startsWith('/')) value = pointer(body, rule.key);
  else value = await evaluate(rule.key, { body, headers }).catch(() => undefined);
  if (typeof value === 'number' && Number.isFinite(value)) value = String(value);
  return typeof value === 'string' && value.length > 0 && value.length <= 255 ? `dedupe:${value}` : undefined;
}
