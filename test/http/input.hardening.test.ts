import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { signLink } from '../../src/files/links.ts';
import { ADMIN_KEY, startTestServer, type TestServer } from '../helpers/server.ts';

const RUN = '/v1/openapi/workflow/c-feedback-triage/run';
const runBody = JSON.stringify({ variables: { feedback: 'hardening' } });

/** Writes `payload` on a fresh socket and returns everything the server sent until it closed. */
function rawExchange(url: string, payload: string, holdMs = 0): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(Number(new URL(url).port), '127.0.0.1', () => {
      s.write(payload);
      if (holdMs === 0) s.end();
    });
    let got = '';
    s.on('data', (c) => (got += c));
    s.on('close', () => resolve(got));
    s.on('error', () => resolve(got));
  });
}

const envelopeOf = (raw: string) => JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4));

describe('bad input is answered in the envelope, never with a 5xx', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer('sqlite', { workflowsPath: 'examples/workflows', requestTimeoutMs: 1000, jsonMaxDepth: 32 });
  });
  after(() => t.close());

  it('query numbers must be finite and in range', async () => {
    for (const q of ['pageSize=Infinity', 'page=1e300', 'pageSize=1e400', 'page=-Infinity', 'page=NaN']) {
      const r = await t.api('GET', `/v1/openapi/workflows?${q}`);
      assert.equal(r.status, 400, q);
      assert.equal(r.body.errCode, 'INVALID_REQUEST_BODY', q);
    }
    for (const p of ['/v1/executions?limit=Infinity', '/v1/webhook/history?webhookId=wh_x&page=1e308']) {
      assert.equal((await t.api('GET', p)).status, 400, p);
    }
    assert.doesNotMatch((await t.api('GET', '/v1/openapi/workflows?page=0')).body.errMsg, /querystring querystring/);
  });

  it('JSON and YAML nested past FLOWGATE_JSON_MAX_DEPTH are refused before anything recursive runs', async () => {
    const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
    for (const headers of [{ 'content-type': 'application/json' }, { 'content-type': 'application/json', 'idempotency-key': 'deep-1' }] as Record<string, string>[]) {
      const r = await t.api('POST', RUN, { raw: `{"variables":{"feedback":"x","j":${deep(10_000)}}}`, headers });
      assert.equal(r.status, 400);
      assert.equal(r.body.errCode, 'INVALID_REQUEST_BODY');
      assert.match(r.body.errMsg, /nested deeper than 32/);
    }
    const strings = await t.api('POST', RUN, { raw: `{"variables":{"feedback":"${'[{'.repeat(500)}"}}`, headers: { 'content-type': 'application/json' } });
    assert.equal(strings.status, 200, 'brackets inside strings are not nesting');
    const yaml = await t.api('PUT', '/v1/workflows/c-deep', { raw: `title: x\ntasks: ${deep(200)}`, headers: { 'content-type': 'application/yaml' } });
    assert.equal(yaml.status, 400);
    assert.match(yaml.body.errMsg, /nested deeper/);
  });

  it('NUL characters, which PostgreSQL text cannot hold, are refused on both stores', async () => {
    const json = { 'content-type': 'application/json' };
    for (const [path, raw] of [
      [RUN, '{"variables":{"feedback":"a\\u0000b"}}'],
      ['/v1/workflows', '{"title":"a\\u0000b","tasks":[{"id":"o","kind":"output","value":1}]}'],
    ]) {
      const r = await t.api('POST', path!, { raw, headers: json });
      assert.equal(r.status, 400, raw);
      assert.match(r.body.errMsg, /NUL/);
    }
    assert.equal((await t.api('POST', RUN, { raw: '{"variables":{"feedback":"a\\\\u0000b"}}', headers: json })).status, 200, 'an escaped backslash before u0000 is text');
    assert.equal((await t.api('PUT', '/v1/workflows/c-nul', { raw: 'title: "a\\0b"\ntasks: []', headers: { 'content-type': 'application/yaml' } })).status, 400);
    assert.equal((await t.api('DELETE', '/v1/api-keys/%00')).status, 400);
  });

  it('content types are matched by media type: charset and +json work, text/plain is 415, and the advice fits the mistake', async () => {
    const send = (type: string | undefined, body = runBody, path = RUN) => t.api('POST', path, { raw: body, headers: type ? { 'content-type': type } : {} });
    assert.equal((await send('application/json; charset=utf-8')).status, 200, 'what Stripe sends');
    assert.equal((await send('application/json;charset=UTF-8')).status, 200);
    assert.equal((await send('application/vnd.api+json')).status, 200);
    const latin1 = await send('application/json; charset=iso-8859-1');
    assert.equal(latin1.status, 415);
    const text = await send('text/plain');
    assert.equal(text.status, 415);
    assert.equal(text.body.errCode, 'UNSUPPORTED_MEDIA_TYPE');
    const curl = await send('application/x-www-form-urlencoded');
    assert.equal(curl.status, 415);
    assert.match(curl.body.errMsg, /Content-Type: application\/json/, 'curl -d sends JSON as a form: say how to fix it');
    const yamlAsForm = await send('application/x-www-form-urlencoded', '{"title": "x"}', '/v1/workflows');
    assert.equal(yamlAsForm.status, 415);
    const upload = await send('application/octet-stream', 'abc', '/v1/openapi/files/upload');
    assert.equal(upload.status, 415);
    assert.match(upload.body.errMsg, /multipart\/form-data/);
  });

  it('malformed multipart uploads are 400, not 500', async () => {
    const bodies: [string, string][] = [
      ['multipart/form-data', 'garbage'],
      ['multipart/form-data; boundary=', 'garbage'],
      ['multipart/form-data; boundary=xx', 'not a multipart body at all'],
      ['multipart/form-data; boundary=xx', '--xx\r\nContent-Disposition: form-data; name="files"; filename="a.txt"\r\n\r\ntruncated'],
      ['multipart/form-data; boundary=xx', '--xx\r\nBroken header line\r\n\r\nabc\r\n--xx--\r\n'],
    ];
    for (const [type, raw] of bodies) {
      const r = await t.api('POST', '/v1/openapi/files/upload', { raw, headers: { 'content-type': type } });
      assert.ok(r.status >= 400 && r.status < 500, `${type} ${JSON.stringify(raw)} → ${r.status}`);
      assert.equal(r.body.success, false);
      assert.ok(r.body.errCode);
    }
  });

  it('files with any name download, with an RFC 6266 filename*', async () => {
    const form = new FormData();
    form.append('files', new Blob(['hello']), '文件😀 x (1).txt');
    const up = await fetch(`${t.url}/v1/openapi/files/upload`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}` }, body: form });
    const { fileKey } = ((await up.json()) as any).data.files[0];
    const secret = await t.server.store.catalog.setting('file_link_secret', 'unused');
    const dl = await fetch(signLink(t.url, fileKey, Math.floor(Date.now() / 1000) + 60, secret));
    assert.equal(dl.status, 200);
    assert.equal(await dl.text(), 'hello');
    const cd = dl.headers.get('content-disposition')!;
    assert.match(cd, /^attachment; filename="[\x20-\x7e]+"; filename\*=UTF-8''/);
    assert.equal(decodeURIComponent(cd.split("UTF-8''")[1]!), '文件😀 x (1).txt');
  });

  it('requests the router or the HTTP parser reject are answered in the envelope', async () => {
    const long = await t.api('GET', `/v1/openapi/workflow/${'x'.repeat(600)}/status`);
    assert.equal(long.status, 400);
    assert.equal(long.body.errCode, 'BAD_REQUEST');
    const badUrl = await t.api('GET', '/v1/openapi/workflow/%E0%A4%A/status');
    assert.equal(badUrl.status, 400);
    assert.equal(badUrl.body.errCode, 'BAD_REQUEST');
    const raw = await rawExchange(t.url, 'GET /healthz HTTP/1.1\r\nHost: x\r\nBad\x01Header: y\r\n\r\n');
    assert.match(raw, /^HTTP\/1\.1 400 /);
    const body = envelopeOf(raw);
    assert.deepEqual([body.success, body.errCode], [false, 'BAD_REQUEST']);
    assert.ok(body.traceId);
  });

  it('a body that never finishes is answered 408 REQUEST_TIMEOUT, and the server keeps serving', async () => {
    const started = Date.now();
    const raw = await rawExchange(t.url, `POST ${RUN} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN_KEY}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"vari`, 1);
    assert.match(raw, /^HTTP\/1\.1 408 /);
    assert.equal(envelopeOf(raw).errCode, 'REQUEST_TIMEOUT');
    assert.ok(Date.now() - started < 10_000, 'within the timeout plus the check interval');
    assert.equal((await t.api('GET', '/healthz', { key: null })).status, 200);
  });

  it('a sender that hangs up mid-body is in the webhook history as CLIENT_CLOSED_REQUEST', async () => {
    const wh = (await t.api('POST', '/v1/webhook/enable', { body: { canvasId: 'c-feedback-triage' } })).body.data;
    await new Promise<void>((resolve) => {
      const s = net.connect(Number(new URL(t.url).port), '127.0.0.1', () => {
        s.write(`POST /v1/openapi/webhook/${wh.webhookId}/run HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"vari`);
        setTimeout(() => (s.destroy(), resolve()), 100);
      });
    });
    let h;
    for (let i = 0; i < 100; i++) {
      h = (await t.api('GET', `/v1/webhook/history?webhookId=${wh.webhookId}`)).body.data;
      if (h.records.length > 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual([h.records[0].callStatus, h.records[0].httpStatus, h.records[0].errCode], ['rejected', 499, 'CLIENT_CLOSED_REQUEST']);
  });
});
