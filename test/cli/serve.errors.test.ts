import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { exited, freePort, runCli, spawnServer } from '../helpers/process.ts';

/** Runs `flowgate serve …` to its exit (bounded) and returns what it printed. */
const serve = (args: string[], env: Record<string, string>) => runCli(['serve', ...args], { FLOWGATE_API_KEY: '', DATABASE_URL: '', ...env });

describe('flowgate serve: start-up failures are one line, and a first-start key is never lost', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'flowgate-cli-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a bad --port is a usage error (exit 2), without a stack trace', async () => {
    const r = await serve(['--port', 'abc'], { FLOWGATE_DATA_DIR: path.join(dir, 'a') });
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /--port must be a whole number/);
  });

  it('a port in use: the key created on this first start is shown anyway, and the error says what to do', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const r = await serve(['--port', String(port)], { FLOWGATE_DATA_DIR: path.join(dir, 'b') });
      assert.equal(r.code, 2);
      assert.match(r.stdout, /First start: an admin API key was created[\s\S]*fg_[A-Za-z0-9]{32}/);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`port ${port} .* already in use`));
    } finally {
      blocker.close();
    }
  });

  it('a missing workflows folder names the path', async () => {
    const r = await serve(['--port', '0', '--workflows', path.join(dir, 'nope')], { FLOWGATE_DATA_DIR: path.join(dir, 'c') });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /nope does not exist/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });
});

describe('FLOWGATE_LOG_FORMAT', () => {
  it('pretty: readable lines with a local time and level, secrets still redacted; json stays the default', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'flowgate-logs-'));
    const port = await freePort();
    const s = await spawnServer({ FLOWGATE_LOG_FORMAT: 'pretty', FLOWGATE_DATA_DIR: dir, DATABASE_URL: '', FLOWGATE_API_KEY: 'fg_pretty_logs_key_000000000000000', LOG_LEVEL: 'info' }, port);
    try {
      await fetch(`${s.url}/v1/api-keys`, { headers: { authorization: 'Bearer fg_pretty_logs_key_000000000000000' } });
      for (let i = 0; i < 50 && !/\/v1\/api-keys/.test(s.output()); i++) await new Promise((r) => setTimeout(r, 50));
      const line = s.output().split('\n').find((l) => l.includes('/v1/api-keys'))!;
      assert.match(line, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO.*request/);
      assert.ok(!s.output().includes('fg_pretty_logs_key_000000000000000'), 'the key never reaches the log');
    } finally {
      s.child.kill('SIGTERM');
      await exited(s.child);
      rmSync(dir, { recursive: true, force: true });
    }
    const bad = await serve([], { FLOWGATE_LOG_FORMAT: 'xml' });
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr, 'flowgate: FLOWGATE_LOG_FORMAT must be json or pretty, got "xml"\n');
  });
});
