import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fakeServer, json, type FakeServer } from '../helpers/fakes.ts';
import { ADMIN_KEY, startTestServer, type TestServer } from '../helpers/server.ts';

/**
 * Every ```sh block of the README and docs/*.md runs here, verbatim, against a fresh server — as a
 * reader would run it after the README's exports (FG, KEY and the FLOWGATE_* client settings). A
 * block that is not meant to run in a test (it starts a server, needs a third party's account,
 * installs things) says why on the line before it: `<!-- not run: reason -->`. A block fails when
 * it exits non-zero or prints an error envelope (`"success":false`), unless it is marked
 * `<!-- run: errors shown -->` because showing an error is its point.
 */
interface Block {
  file: string;
  line: number;
  code: string;
  skip?: string;
  errorsShown: boolean;
}

function blocksOf(file: string): Block[] {
  const lines = readFileSync(file, 'utf8').split('\n');
  const out: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== '```sh') continue;
    let j = i - 1;
    while (j >= 0 && lines[j]!.trim() === '') j--;
    const marker = j >= 0 ? lines[j]!.trim() : '';
    const skip = /^<!-- not run: (.+) -->$/.exec(marker)?.[1];
    const end = lines.indexOf('```', i + 1);
    assert.ok(end > i, `${file}:${i + 1}: unclosed block`);
    out.push({ file, line: i + 1, code: lines.slice(i + 1, end).join('\n'), skip, errorsShown: marker === '<!-- run: errors shown -->' });
    i = end;
  }
  return out;
}

const files = (process.env.FLOWGATE_DOCS_ONLY?.split(',') ?? ['README.md', ...readdirSync('docs').filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)]);
const blocks = files.flatMap(blocksOf);

function runBash(code: string, env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    // macOS ships bash 3.2: blocks stay within what it has; -e and pipefail make a failing step fail the block.
    const child = spawn('bash', ['-e', '-o', 'pipefail', '-c', code], { env: { ...process.env, ...env }, cwd: process.cwd() });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('exit', (c) => {
      clearTimeout(timer);
      resolve({ code: c, out });
    });
  });
}

describe('the docs\' shell blocks run as written', () => {
  let t: TestServer;
  let receiver: FakeServer;
  let env: Record<string, string>;
  // `flowgate skill export` writes .claude/skills under the working directory, as it would for a reader.
  const hadClaudeDir = existsSync('.claude');
  before(async () => {
    receiver = await fakeServer((_req, _body, res) => json(res, 200, {}));
    t = await startTestServer('sqlite', { workflowsPath: 'examples/workflows', allowPrivateNetworks: true, adminKey: 'fg_docs_instance_admin_key_0123456789' });
    env = {
      FG: t.url,
      KEY: ADMIN_KEY,
      FLOWGATE_URL: t.url,
      FLOWGATE_API_KEY: ADMIN_KEY,
      FLOWGATE_ADMIN_KEY: 'fg_docs_instance_admin_key_0123456789',
      // What the guides ask a reader to have at hand.
      RECEIVER_URL: `${receiver.url}/hooks`,
      STRIPE_WEBHOOK_SECRET: 'whsec_docs_test_secret_0123456789',
      LOG_LEVEL: 'silent',
      XDG_CONFIG_HOME: `${t.target.config.dataDir}/config`,
      // `flowgate keys create` writes to the server's own database, as on the reader's machine.
      FLOWGATE_DATA_DIR: t.target.config.dataDir,
      DATABASE_URL: '',
    };
  });
  after(async () => {
    await t?.close();
    await receiver?.close();
    if (!hadClaudeDir) rmSync('.claude', { recursive: true, force: true });
  });

  it('every block that is not run says why', () => {
    for (const b of blocks) if (b.skip !== undefined) assert.ok(b.skip.length > 5, `${b.file}:${b.line}: say why it is not run`);
    if (files.includes('README.md')) assert.ok(blocks.some((b) => b.file === 'README.md' && !b.skip), 'the README walkthrough runs');
  });

  for (const b of blocks) {
    it(`${b.file}:${b.line}`, { skip: b.skip }, async () => {
      // Never run what would install, start or test this checkout from inside its own tests.
      assert.ok(!/\bnpm (ci|start|test|run|install)\b/.test(b.code), `${b.file}:${b.line} runs npm: mark it <!-- not run: … -->`);
      const r = await runBash(b.code, env);
      assert.equal(r.code, 0, `${b.file}:${b.line} exited ${r.code}:\n${r.out}`);
      if (!b.errorsShown) assert.ok(!/"success":\s*false/.test(r.out), `${b.file}:${b.line} printed an error:\n${r.out}`);
    });
  }
});
