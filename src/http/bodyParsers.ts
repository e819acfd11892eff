import YAML from 'yaml';
import { failure, FlowgateError } from '../errors.ts';
import { parseForm } from '../ingest/webhookCall.ts';
import type { App } from './app.ts';

/**
 * The body types Flowgate reads. Content types are matched by media type with their
 * parameters ignored, so `application/json; charset=utf-8` (what Stripe sends) is JSON, as is any
 * `+json` type. `text/plain` has no parser, so it is refused with 415 like any other type.
 */
export const JSON_TYPE = /^application\/([\w.+-]+\+)?json\s*(;.*)?$/i;
const FORM_TYPE = 'application/x-www-form-urlencoded';

export function registerBodyParsers(app: App, maxDepth: number): void {
  app.removeContentTypeParser(['application/json', 'text/plain']);
  // Our own JSON parser keeps the raw bytes (idempotency fingerprints, webhook signatures) and
  // accepts an empty body, which Refly's run endpoint allows.
  app.addContentTypeParser(JSON_TYPE, { parseAs: 'buffer' }, (req, body, done) => {
    const buf = body as Buffer;
    req.rawBody = buf;
    const charset = /;\s*charset="?([\w-]+)"?/i.exec(req.headers['content-type'] ?? '')?.[1]?.toLowerCase();
    if (charset && charset !== 'utf-8' && charset !== 'utf8' && charset !== 'us-ascii') {
      return done(new FlowgateError(failure('UNSUPPORTED_MEDIA_TYPE', `JSON must be UTF-8 (charset=${charset} is not supported)`)), undefined);
    }
    if (buf.length === 0) return done(null, undefined);
    const scan = scanJson(buf);
    if (scan.depth > maxDepth) return done(tooDeep(maxDepth), undefined);
    if (scan.nul) return done(nul(), undefined);
    try {
      done(null, JSON.parse(buf.toString('utf8')));
    } catch (e) {
      done(new FlowgateError(failure('INVALID_REQUEST_BODY', `Malformed JSON: ${(e as Error).message}`)), undefined);
    }
  });
  // Form posts exist for webhook senders that cannot send JSON (raw body mode). curl's `-d` sends
  // JSON with this type too: say so rather than parse `{"variables": …}` as a field name.
  app.addContentTypeParser(FORM_TYPE, { parseAs: 'buffer' }, (req, body, done) => {
    const buf = body as Buffer;
    req.rawBody = buf;
    const text = buf.toString('utf8');
    if (/^\s*[[{]/.test(text)) {
      return done(
        new FlowgateError(failure('UNSUPPORTED_MEDIA_TYPE', `This body is JSON but was sent as ${FORM_TYPE} (curl -d does that): add -H 'Content-Type: application/json'`)),
        undefined,
      );
    }
    done(null, parseForm(text));
  });
  app.addContentTypeParser(['application/yaml', 'application/x-yaml', 'text/yaml'], { parseAs: 'string' }, (_req, body, done) => {
    let parsed: unknown;
    try {
      parsed = YAML.parse(body as string);
    } catch (e) {
      return done(new FlowgateError(failure('INVALID_REQUEST_BODY', `Malformed YAML: ${(e as Error).message}`)), undefined);
    }
    const scan = scanValue(parsed, maxDepth);
    if (scan.depth > maxDepth) return done(tooDeep(maxDepth), undefined);
    if (scan.nul) return done(nul(), undefined);
    done(null, parsed);
  });
}

// PostgreSQL text cannot hold NUL, so neither store takes it.
const nul = () => new FlowgateError(failure('INVALID_REQUEST_BODY', 'The body contains a NUL character (\\u0000), which is not accepted'));
const tooDeep = (max: number) => new FlowgateError(failure('INVALID_REQUEST_BODY', `The body is nested deeper than ${max} levels (FLOWGATE_JSON_MAX_DEPTH)`));

const isZero = (b: number | undefined) => b === 0x30;

/**
 * One pass over JSON bytes, before anything recursive (JSON.parse, stable stringify, schema
 * validation) sees them: the deepest nesting of arrays and objects, and whether a string holds a
 * `\u0000` escape.
 */
export function scanJson(buf: Buffer): { depth: number; nul: boolean } {
  let depth = 0;
  let max = 0;
  let nul = false;
  let inString = false;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i];
    if (inString) {
      if (c === 0x5c) {
        // An escape: `\u0000` is NUL; either way the escaped byte is skipped.
        if (buf[i + 1] === 0x75 && isZero(buf[i + 2]) && isZero(buf[i + 3]) && isZero(buf[i + 4]) && isZero(buf[i + 5])) nul = true;
        i++;
      } else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) max = depth;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return { depth: max, nul };
}

/**
 * The same for a parsed value (YAML), iteratively: its nesting depth — counting stops once past
 * `limit` — and whether any key or string holds a NUL character.
 */
export function scanValue(value: unknown, limit: number): { depth: number; nul: boolean } {
  let max = 0;
  const stack: [unknown, number][] = [[value, 0]];
  const seen = new Set<object>();
  while (stack.length) {
    const [v, d] = stack.pop()!;
    if (typeof v === 'string') {
      if (v.includes('\u0000')) return { depth: max, nul: true };
      continue;
    }
    if (v === null || typeof v !== 'object' || seen.has(v)) continue;
    seen.add(v); // YAML anchors can make a value appear twice (or contain itself)
    if (d + 1 > max) max = d + 1;
    if (max > limit) return { depth: max, nul: false };
    for (const [k, child] of Object.entries(v)) {
      if (k.includes('\u0000')) return { depth: max, nul: true };
      stack.push([child, d + 1]);
    }
  }
  return { depth: max, nul: false };
}
