import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config.ts';
import { isPrivateAddress } from '../../src/engine/ssrf.ts';
import { runHttp } from '../../src/engine/tasks/http.ts';
import type { HttpTask } from '../../src/workflows/definition.ts';
import { fakeServer, json, type FakeServer } from '../helpers/fakes.ts';

const run = (url: string, allowPrivateNetworks: boolean) =>
  runHttp({
    task: { id: 'x', kind: 'http', request: { url } } as HttpTask,
    workflow: { title: 't', tasks: [] },
    context: { variables: {}, tasks: {}, execution: { id: 'we-1', canvasId: 'c' } },
    executionId: 'we-1',
    attempt: 1,
    signal: new AbortController().signal,
    config: loadConfig({}, { allowPrivateNetworks }),
  });

describe('SSRF guard', () => {
  let local: FakeServer;
  before(async () => {
    local = await fakeServer((_req, _b, res) => json(res, 200, { secret: 'internal' }));
  });
  after(() => local.close());

  it('classifies addresses', () => {
    for (const ip of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', '::', 'fc00::1', 'fd12::1', 'fe80::1', '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:10.0.0.1', '224.0.0.1']) {
      assert.equal(isPrivateAddress(ip), true, ip);
    }
    for (const ip of ['8.8.8.8', '1.1.1.1', '172.32.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8']) {
      assert.equal(isPrivateAddress(ip), false, ip);
    }
  });

  it('refuses loopback by literal IP and by a name that resolves to it', async () => {
    const port = new URL(local.url).port;
    for (const url of [`http://127.0.0.1:${port}/`, `http://localhost:${port}/`, `http://[::1]:${port}/`, `http://[::ffff:127.0.0.1]:${port}/`]) {
      const r = await run(url, false);
      assert.ok(r.type === 'failed' && r.errCode === 'SSRF_BLOCKED' && !r.retryable, `${url}: ${JSON.stringify(r)}`);
    }
    assert.equal(local.requests.length, 0, 'nothing reached the private server');
  });

  it('allows them when FLOWGATE_ALLOW_PRIVATE_NETWORKS is true', async () => {
    const r = await run(`${local.url}/`, true);
    assert.equal(r.type, 'finished');
  });
});
