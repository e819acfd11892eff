import YAML from 'yaml';
import { failure, FlowgateError } from '../errors.ts';
import { parseForm } from '../ingest/webhookCall.ts';
import type { App } from './app.ts';

/**
 * The body types Flowgate reads (SPEC §4.11). Content types are matched by media type with their
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
    const depth = jsonDepth(buf);
    if (depth > maxDepth) return done(tooDeep(maxDepth), undefined);
    const text = buf.toString('utf8');
    if (NUL_ESCAPE.test(text)) return done(nul(), undefined);
    try {
      done(null, JSON.parse(text));
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
    if (valueDepth(parsed, maxDepth) > maxDepth) return done(tooDeep(maxDepth), undefined);
    if (hasNul(parsed)) return done(nul(), undefined);
    done(null, parsed);
  });
}

/** A `\u0000` escape not itself escaped: PostgreSQL text cannot hold NUL, so neither store takes it. */
const NUL_ESCAPE = /(?<!\\)(?:\\\\)*\\u0000/i;
const nul = () => new FlowgateError(failure('INVALID_REQUEST_BODY', 'The body contains a NUL character (\\u0000), which is not accepted'));
const tooDeep = (max: number) => new FlowgateError(failure('INVALID_REQUEST_BODY', `The body is nested deeper than ${max} levels (FLOWGATE_JSON_MAX_DEPTH)`));

/**
 * The deepest nesting of arrays and objects in JSON text, by one pass over the bytes, so that nothing
 * recursive (JSON.parse, stable stringify, schema validation) ever sees a body too deep for the stack.
 */
export function jsonDepth(buf: Buffer): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i];
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped byte
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) max = depth;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

/** The nesting depth of a parsed value, iteratively; stops counting once past `limit`. */
export function valueDepth(value: unknown, limit: number): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 0]];
  const seen = new Set<object>();
  while (stack.length) {
    const [v, d] = stack.pop()!;
    if (v === null || typeof v !== 'object' || seen.has(v)) continue;
    seen.add(v); // YAML anchors can make a value appear twice (or contain itself)
    if (d + 1 > max) max = d + 1;
    if (max > limit) return max;
    for (const child of Object.values(v)) stack.push([child, d + 1]);
  }
  return max;
}

/** Whether any string (key or value) of a parsed value holds a NUL character; iterative. */
export function hasNul(value: unknown): boolean {
  const stack: unknown[] = [value];
  const seen = new Set<object>();
  while (stack.length) {
    const v = stack.pop();
    if (typeof v === 'string') {
      if (v.includes('\u0000')) return true;
    } else if (v !== null && typeof v === 'object' && !seen.has(v)) {
      seen.add(v);
      for (const [k, child] of Object.entries(v)) {
        if (k.includes('\u0000')) return true;
        stack.push(child);
      }
    }
  }
  return false;
}
