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

  it('classifies IPv4 and plain IPv6 addresses', () => {
    for (const ip of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '255.255.255.255', '224.0.0.1', '198.18.0.1', '192.0.2.1', '240.0.0.1', '::1', '::', 'fc00::1', 'fd12::1', 'fe80::1', 'fe80::1%eth0', 'ff02::1', '2001:db8::1', '100::1', 'not-an-ip']) {
      assert.equal(isPrivateAddress(ip), true, ip);
    }
    for (const ip of ['8.8.8.8', '1.1.1.1', '172.32.0.1', '2606:4700:4700::1111', '2a00:1450:4001::200e']) {
      assert.equal(isPrivateAddress(ip), false, ip);
    }
  });

  // One row per way an IPv6 address can carry an IPv4 one: each must be judged by the IPv4 it carries.
  const embedded: Array<[form: string, privateIp: string, publicIp: string | undefined]> = [
    ['IPv4-mapped, dotted', '::ffff:127.0.0.1', '::ffff:8.8.8.8'],
    ['IPv4-mapped, hex', '::ffff:7f00:1', '::ffff:808:808'],
    ['IPv4-mapped, private range', '::ffff:10.0.0.1', undefined],
    ['IPv4-compatible (deprecated ::/96)', '::7f00:1', undefined],
    ['IPv4-compatible, private range', '::a00:1', undefined],
    ['SIIT ::ffff:0:0/96', '::ffff:0:7f00:1', '::ffff:0:808:808'],
    ['NAT64 64:ff9b::/96', '64:ff9b::7f00:1', '64:ff9b::808:808'],
    ['NAT64 carrying 10/8', '64:ff9b::10.0.0.1', undefined],
    ['NAT64 local-use 64:ff9b:1::/48', '64:ff9b:1::a00:1', undefined],
    ['6to4 2002::/16', '2002:7f00:1::1', '2002:808:808::1'],
    ['6to4 carrying 192.168/16', '2002:c0a8:101::', undefined],
    ['Teredo, private server', '2001:0:a00:1::1', undefined],
    ['Teredo, loopback client (obfuscated)', '2001:0:808:808::80ff:fffe', '2001:0:808:808::f7f7:f7f7'],
  ];
  for (const [form, privateIp, publicIp] of embedded) {
    it(`classifies ${form} by the IPv4 address it carries`, () => {
      assert.equal(isPrivateAddress(privateIp), true, privateIp);
      if (publicIp) assert.equal(isPrivateAddress(publicIp), false, publicIp);
    });
  }

  it('refuses loopback by literal IP and by a name that resolves to it', async () => {
    const port = new URL(local.url).port;
    const literals = ['127.0.0.1', 'localhost', '[::1]', '[::ffff:127.0.0.1]', '[::7f00:1]', '[::ffff:0:7f00:1]', '[2002:7f00:1::1]', '[64:ff9b::7f00:1]', '0x7f.1', '2130706433'];
    for (const url of literals.map((host) => `http://${host}:${port}/`)) {
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
