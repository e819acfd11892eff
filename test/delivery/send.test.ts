import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { EXCERPT_BYTES, sendEvent } from '../../src/delivery/send.ts';

/**
 * One delivery attempt against a real receiver on loopback: what it records of the response, and that
 * every way a receiver can misbehave ends in an outcome within the timeout.
 */
describe('sending one event', () => {
  let server: Server;
  let base: string;
  const seen: { headers: IncomingMessage['headers']; body: string }[] = [];
  const stalled: ServerResponse[] = [];
  const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => void> = {
    '/ok': (_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('thanks'),
    '/busy': (_req, res) => res.writeHead(503, { 'retry-after': '7' }).end(),
    // Writes 1 KB every 5 ms and never ends.
    '/endless': (_req, res) => {
      res.writeHead(200);
      const t = setInterval(() => res.write('x'.repeat(1024)), 5);
      res.on('close', () => clearInterval(t));
    },
    '/silent': (_req, res) => stalled.push(res),
    '/half': (_req, res) => {
      res.writeHead(200);
      res.write('partial');
      stalled.push(res);
    },
    // "é" is two bytes in UTF-8: sent split across two writes, the excerpt still reads it whole.
    '/split': (_req, res) => {
      const bytes = Buffer.from('café au lait');
      res.writeHead(200);
      res.write(bytes.subarray(0, 4));
      setTimeout(() => res.end(bytes.subarray(4)), 20);
    },
  };
  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ headers: req.headers, body: Buffer.concat(chunks).toString() });
        (routes[req.url ?? ''] ?? ((_q, s) => s.writeHead(404).end()))(req, res);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    for (const res of stalled) res.destroy();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const send = (path: string, extra: Partial<Parameters<typeof sendEvent>[0]> = {}) =>
    sendEvent({
      url: `${base}${path}`,
      payload: '{"type":"ping"}',
      signed: { 'webhook-id': 'msg_1', 'webhook-timestamp': '1', 'webhook-signature': 'v1,abc' },
      timeoutMs: 300,
      allowPrivateNetworks: true,
      now: Date.now,
      ...extra,
    });

  it('posts the payload with its signature headers; custom headers cannot replace them', async () => {
    const r = await send('/ok', { headers: { 'x-team': 'a', 'Webhook-Signature': 'forged', 'content-type': 'text/plain' } });
    assert.equal(r.httpStatus, 200);
    assert.equal(r.responseExcerpt, 'thanks');
    assert.equal(r.error, undefined);
    const got = seen.at(-1)!;
    assert.equal(got.body, '{"type":"ping"}');
    assert.equal(got.headers['webhook-signature'], 'v1,abc');
    assert.equal(got.headers['content-type'], 'application/json');
    assert.equal(got.headers['x-team'], 'a');
    assert.equal(got.headers['user-agent'], 'Flowgate-Webhooks/1');
  });

  it('keeps the status and Retry-After of a refusal', async () => {
    const before = Date.now();
    const r = await send('/busy');
    assert.equal(r.httpStatus, 503);
    assert.equal(r.responseExcerpt, undefined);
    assert.ok(r.retryAfterMs !== undefined && r.retryAfterMs >= 7000 - (Date.now() - before) - 1000, String(r.retryAfterMs));
  });

  it('keeps the first 20 KB of an endless body and stops reading it there, before the timeout', async () => {
    const r = await send('/endless', { timeoutMs: 5000 });
    assert.equal(r.httpStatus, 200);
    assert.equal(r.error, undefined);
    assert.equal(r.responseExcerpt?.length, EXCERPT_BYTES);
    assert.ok(r.latencyMs < 5000, `${r.latencyMs} ms`);
  });

  it('decodes a character split across two chunks', async () => {
    const r = await send('/split');
    assert.equal(r.responseExcerpt, 'café au lait');
  });

  it('gives up on a receiver that never answers, or stops halfway, at the timeout', async () => {
    for (const path of ['/silent', '/half']) {
      const r = await send(path);
      assert.equal(r.httpStatus, undefined, path);
      assert.match(r.error ?? '', /no response within 300 ms/, path);
      assert.ok(r.latencyMs >= 290 && r.latencyMs < 2000, `${path}: ${r.latencyMs} ms`);
    }
  });

  it('names the network error when nothing listens', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const r = await send('', { url: `http://127.0.0.1:${port}/hook` });
    assert.equal(r.httpStatus, undefined);
    assert.match(r.error ?? '', /ECONNREFUSED/);
  });

  it('refuses a private address unless allowed, and a URL it cannot parse, without a request', async () => {
    const count = seen.length;
    assert.match((await send('/ok', { allowPrivateNetworks: false })).error ?? '', /private|loopback/);
    assert.equal((await send('', { url: 'not a url' })).error, 'invalid URL');
    assert.equal(seen.length, count);
  });
});
