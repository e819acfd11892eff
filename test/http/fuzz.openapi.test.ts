import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { isErrorCode } from '../../src/errors.ts';
import { STORE_KINDS } from '../helpers/stores.ts';
import { ADMIN_KEY, startTestServer, type TestServer } from '../helpers/server.ts';

/**
 * Walks the served OpenAPI document and sends each operation bad input — odd path ids, non-finite
 * and huge query numbers, malformed, deep or wrongly typed bodies, odd content types, multipart
 * garbage (SPEC §4.11). Every answer must be the envelope, below 500, with a registry code when it is
 * an error; the server must still answer afterwards. Seeded and bounded, so a failure reproduces.
 */
interface Operation {
  method: string;
  path: string;
  query: string[];
}

function operations(doc: any): Operation[] {
  const ops: Operation[] = [];
  for (const [path, item] of Object.entries<any>(doc.paths)) {
    // Streams stay open by design; they are covered by their own tests.
    if (path.endsWith('/events')) continue;
    for (const [method, op] of Object.entries<any>(item)) {
      if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
      const query = (op.parameters ?? []).filter((p: any) => p.in === 'query').map((p: any) => p.name as string);
      ops.push({ method: method.toUpperCase(), path, query });
    }
  }
  return ops;
}

const nastyString = fc.oneof(
  {
    arbitrary: fc.constantFrom('', ' ', 'Infinity', '-Infinity', 'NaN', '1e400', '1e300', '-1', '0', '9007199254740993', 'null', 'true', '[]', '{}', '%', '%E0%A4%A', '../../etc/passwd', '\u0000', '😀文件', 'a'.repeat(300)),
    weight: 3,
  },
  { arbitrary: fc.string({ maxLength: 40 }), weight: 1 },
  { arbitrary: fc.integer().map(String), weight: 1 },
  { arbitrary: fc.double().map(String), weight: 1 },
);
const deep = fc.integer({ min: 50, max: 20_000 }).map((n) => '['.repeat(n) + ']'.repeat(n));
const jsonValue = fc.jsonValue({ maxDepth: 4 });
const body = fc.oneof(
  fc.record({ type: fc.constant('application/json'), raw: jsonValue.map((v) => JSON.stringify(v)) }),
  fc.record({ type: fc.constant('application/json'), raw: fc.record({ variables: fc.oneof(jsonValue, fc.dictionary(fc.string({ maxLength: 10 }), jsonValue)) }).map((v) => JSON.stringify(v)) }),
  fc.record({ type: fc.constant('application/json'), raw: fc.oneof(fc.string({ maxLength: 50 }), fc.constantFrom('{', '{"a":', '[1,2', '{"variables":', 'nul', '\uFEFF{}', '{"variables":{"a":"\\u0000"}}', '{"title":"\\u0000","tasks":[]}')) }),
  fc.record({ type: fc.constant('application/json; charset=utf-8'), raw: deep.map((d) => `{"variables":{"x":${d}}}`) }),
  fc.record({ type: fc.constantFrom('text/plain', 'application/xml', 'application/octet-stream', 'application/x-www-form-urlencoded', 'application/yaml', 'application/json; charset=latin1', 'image/png'), raw: fc.string({ maxLength: 60 }) }),
  fc.record({ type: fc.constantFrom('multipart/form-data', 'multipart/form-data; boundary=', 'multipart/form-data; boundary=xx'), raw: fc.constantFrom('garbage', '--xx\r\nContent-Disposition: form-data; name="files"; filename="a"\r\n\r\nabc', '--xx--', '') }),
  fc.record({ type: fc.constant(undefined), raw: fc.string({ maxLength: 30 }) }),
);

// Query keys are mostly the operation's own, so bad values reach the code that reads them.
const request = (ops: Operation[]) =>
  fc.constantFrom(...ops).chain((op) =>
    fc.record({
      op: fc.constant(op),
      id: nastyString,
      query: fc.dictionary(fc.constantFrom(...op.query, 'x'), nastyString, { maxKeys: 3 }),
      body: fc.option(body, { nil: undefined }),
      key: fc.constantFrom(ADMIN_KEY, ADMIN_KEY, ADMIN_KEY, 'fg_wrong', ''),
    }),
  );

for (const kind of STORE_KINDS) {
  describe(`OpenAPI-driven fuzz (${kind})`, () => {
    let t: TestServer;
    before(async () => {
      t = await startTestServer(kind, { workflowsPath: 'examples/workflows' });
    });
    after(() => t.close());

    it('no 5xx, every answer in the envelope, every error code in the registry', async () => {
      const doc = (await t.api('GET', '/openapi.json', { key: null })).body;
      const ops = operations(doc);
      assert.ok(ops.length > 30, `${ops.length} operations`);
      await fc.assert(
        fc.asyncProperty(request(ops), async ({ op, id, query, body, key }) => {
          // A value that already looks percent-encoded (valid or broken) goes into the path as is.
          const segment = /^%[0-9A-Fa-f]{2}/.test(id) ? id : encodeURIComponent(id);
          const path = op.path.replace(/\{[^}]+\}/g, () => segment);
          const qs = new URLSearchParams(query).toString();
          const headers: Record<string, string> = {};
          if (key) headers.authorization = `Bearer ${key}`;
          if (body?.type) headers['content-type'] = body.type;
          const hasBody = body !== undefined && op.method !== 'GET' && op.method !== 'DELETE';
          const res = await fetch(`${t.url}${path}${qs ? `?${qs}` : ''}`, { method: op.method, headers, body: hasBody ? body.raw : undefined });
          const text = await res.text();
          const where = `${op.method} ${path}?${qs} ${hasBody ? `${body!.type} ${JSON.stringify(body!.raw).slice(0, 120)}` : ''}`;
          assert.ok(res.status < 500, `${res.status} for ${where}: ${text.slice(0, 200)}`);
          if (!(res.headers.get('content-type') ?? '').includes('json')) return; // downloads, docs
          const env = JSON.parse(text);
          if (path.startsWith('/v1/') && res.status >= 400) {
            assert.equal(env.success, false, where);
            assert.ok(isErrorCode(env.errCode), `${env.errCode} for ${where}`);
            assert.ok(env.traceId, where);
          }
        }),
        { seed: 20261123, numRuns: kind === 'sqlite' ? 400 : 200, interruptAfterTimeLimit: 60_000 },
      );
      assert.equal((await t.api('GET', '/healthz', { key: null })).status, 200, 'still serving');
    });
  });
}
