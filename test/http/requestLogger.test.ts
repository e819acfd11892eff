import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import Fastify from 'fastify';
import pino from 'pino';
import { loadConfig } from '../../src/config.ts';
import { requestLogger } from '../../src/http/requestLogger.ts';
import { startServer } from '../../src/server.ts';
import { freshTarget } from '../helpers/stores.ts';

/** A pino logger whose JSON lines land in `lines`. */
function capturing(level = 'info') {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: pino({ level }, sink) };
}

test('a request logs through req.log with its traceId, and a request that logs nothing makes no child', async () => {
  const { lines, logger } = capturing();
  let children = 0;
  const parentChild = logger.child.bind(logger);
  logger.child = ((...args: Parameters<typeof logger.child>) => {
    children++;
    return parentChild(...args);
  }) as typeof logger.child;
  const app = Fastify({ loggerInstance: logger, childLoggerFactory: requestLogger, disableRequestLogging: true, genReqId: () => 'tr-1' });
  app.get('/quiet', async () => ({ ok: true }));
  app.get('/loud', async (req) => {
    req.log.warn({ detail: 1 }, 'something happened');
    req.log.info('and again');
    return { ok: true };
  });
  try {
    await app.ready();
    children = 0;
    assert.equal((await app.inject({ url: '/quiet' })).statusCode, 200);
    assert.equal(children, 0, 'a request that never logs builds no child logger');
    assert.equal((await app.inject({ url: '/loud' })).statusCode, 200);
    assert.equal(children, 1, 'the child is built once, on first use');
    const logged = lines.filter((l) => l.msg === 'something happened' || l.msg === 'and again');
    assert.equal(logged.length, 2);
    for (const l of logged) assert.equal(l.reqId, 'tr-1');
    assert.equal(logged[0]!.detail, 1);
    assert.equal(logged[0]!.level, 40);
  } finally {
    await app.close();
  }
});

test("the server's line for each request names its traceId, route and status", async () => {
  const target = freshTarget('sqlite');
  const { lines, logger } = capturing('info');
  const config = loadConfig({}, { ...target.config, port: 0, host: '127.0.0.1', apiKey: 'fg_test_admin_key_0123456789abcdef', logLevel: 'info' });
  const server = await startServer(config, logger);
  try {
    const res = await fetch(`${server.url}/v1/openapi/workflow/we-missing/status`, { headers: { authorization: 'Bearer fg_test_admin_key_0123456789abcdef' } });
    assert.equal(res.status, 404);
    const traceId = res.headers.get('x-trace-id');
    assert.ok(traceId);
    const line = lines.find((l) => l.msg === 'request' && l.traceId === traceId);
    assert.ok(line, `a request line with traceId ${traceId}`);
    assert.equal(line.route, '/v1/openapi/workflow/:id/status');
    assert.equal(line.status, 404);
    assert.equal(line.method, 'GET');
  } finally {
    await server.close();
    await target.cleanup(false);
  }
});
