import { createHmac, timingSafeEqual } from 'node:crypto';
import type { SignatureScheme, WebhookSignature } from '../store/store.ts';

/**
 * Inbound signature verifiers, one per scheme (trigger.dev's SCHEME_REGISTRY). Each checks the raw
 * request bytes, compares in constant time, and reads the clock it is given so the 5-minute
 * tolerance is testable without sleeping.
 */
export interface VerifyInput {
  rawBody: Buffer;
  /** Lower-cased header names. */
  headers: Record<string, string | undefined>;
  signature: WebhookSignature;
  nowMs: number;
}

export type VerifyResult = { ok: true; idempotencyKey?: string } | { ok: false; message: string };
type Verifier = (input: VerifyInput) => VerifyResult;

/** Timestamps further than this from our clock, either way, are refused. */
export const TOLERANCE_S = 5 * 60;

const hmac = (key: Buffer | string, data: Buffer | string) => createHmac('sha256', key).update(data).digest();

function equal(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

function fromHex(s: string): Buffer | undefined {
  return /^[0-9a-f]+$/i.test(s) && s.length % 2 === 0 ? Buffer.from(s, 'hex') : undefined;
}

function fresh(tsSeconds: string | undefined, nowMs: number): VerifyResult | undefined {
  const ts = Number(tsSeconds);
  if (!tsSeconds || !Number.isInteger(ts)) return { ok: false, message: 'missing or malformed timestamp' };
  if (Math.abs(nowMs / 1000 - ts) > TOLERANCE_S) return { ok: false, message: 'timestamp outside the 5-minute tolerance' };
  return undefined;
}

/**
 * Standard Webhooks: `v1,<base64 HMAC of id.timestamp.body>`, secret `whsec_<base64>`; several
 * signatures may be sent during rotation. Senders hosted on Svix send the same scheme under `svix-*`
 * header names, accepted as aliases.
 */
const standardWebhooks: Verifier = ({ rawBody, headers, signature, nowMs }) => {
  const svix = !headers['webhook-id'] && !!headers['svix-id'];
  const id = svix ? headers['svix-id'] : headers['webhook-id'];
  const ts = svix ? headers['svix-timestamp'] : headers['webhook-timestamp'];
  const sigs = svix ? headers['svix-signature'] : headers['webhook-signature'];
  if (!id || !sigs) return { ok: false, message: 'missing webhook-id (or svix-id) or webhook-signature (or svix-signature) header' };
  const stale = fresh(ts, nowMs);
  if (stale) return stale;
  const key = Buffer.from(signature.secret.replace(/^whsec_/, ''), 'base64');
  const expected = hmac(key, Buffer.concat([Buffer.from(`${id}.${ts}.`), rawBody]));
  const match = sigs.split(' ').some((s) => {
    const [version, b64] = s.split(',');
    return version === 'v1' && !!b64 && equal(Buffer.from(b64, 'base64'), expected);
  });
  return match ? { ok: true, idempotencyKey: id } : { ok: false, message: 'no matching v1 signature' };
};

/** GitHub: `X-Hub-Signature-256: sha256=<hex HMAC of body>`; deliveries are identified by X-GitHub-Delivery. */
const github: Verifier = ({ rawBody, headers, signature }) => {
  const header = headers['x-hub-signature-256'];
  const given = header?.startsWith('sha256=') ? fromHex(header.slice(7)) : undefined;
  if (!given) return { ok: false, message: 'missing or malformed X-Hub-Signature-256' };
  if (!equal(given, hmac(signature.secret, rawBody))) return { ok: false, message: 'signature mismatch' };
  return { ok: true, idempotencyKey: headers['x-github-delivery'] };
};

/**
 * Stripe: `Stripe-Signature: t=<ts>,v1=<hex HMAC of "t.body">[,v1=…]`, with the `whsec_…` secret used
 * as is. Stripe retries an event for up to three days with a fresh signature and the same event `id`,
 * so that id is the delivery's identity.
 */
const stripe: Verifier = ({ rawBody, headers, signature, nowMs }) => {
  const parts = (headers['stripe-signature'] ?? '').split(',').map((p) => p.trim().split('='));
  const t = parts.find(([k]) => k === 't')?.[1];
  const v1 = parts.filter(([k]) => k === 'v1').map(([, v]) => fromHex(v ?? '')).filter((b): b is Buffer => !!b);
  if (!t || v1.length === 0) return { ok: false, message: 'missing or malformed Stripe-Signature' };
  const stale = fresh(t, nowMs);
  if (stale) return stale;
  const expected = hmac(signature.secret, Buffer.concat([Buffer.from(`${t}.`), rawBody]));
  if (!v1.some((s) => equal(s, expected))) return { ok: false, message: 'signature mismatch' };
  return { ok: true, idempotencyKey: stripeEventId(rawBody) };
};

function stripeEventId(rawBody: Buffer): string | undefined {
  try {
    const id = (JSON.parse(rawBody.toString('utf8')) as { id?: unknown }).id;
    return typeof id === 'string' && id.length > 0 && id.length <= 255 ? `stripe:${id}` : undefined;
  } catch {
    return undefined;
  }
}

/** Generic: a header (default `X-Signature`) with the hex HMAC-SHA256 of the body, optionally prefixed `sha256=`. */
const hmacSha256: Verifier = ({ rawBody, headers, signature }) => {
  const name = (signature.header ?? 'x-signature').toLowerCase();
  const value = headers[name]?.replace(/^sha256=/, '');
  const given = value ? fromHex(value) : undefined;
  if (!given) return { ok: false, message: `missing or malformed ${name} header` };
  return equal(given, hmac(signature.secret, rawBody)) ? { ok: true } : { ok: false, message: 'signature mismatch' };
};

export const VERIFIERS: Record<SignatureScheme, Verifier> = {
  'standard-webhooks': standardWebhooks,
  github,
  stripe,
  'hmac-sha256': hmacSha256,
};

export const SIGNATURE_SCHEMES = Object.keys(VERIFIERS) as SignatureScheme[];

export function verifySignature(input: VerifyInput): VerifyResult {
  return VERIFIERS[input.signature.scheme](input);
}
