import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { runCli } from '../helpers/process.ts';

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
