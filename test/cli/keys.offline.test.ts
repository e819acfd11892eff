import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runCli } from '../helpers/process.ts';
import { startTestServer } from '../helpers/server.ts';
import { freshTarget, STORE_KINDS, type StoreTarget } from '../helpers/stores.ts';

/** Runs `flowgate keys create …` against `target`'s database, to its exit (bounded). */
function keysCreate(target: StoreTarget, args: string[]) {
  const db: Record<string, string> = target.config.databaseUrl
    ? { DATABASE_URL: target.config.databaseUrl, FLOWGATE_DATABASE_SCHEMA: target.config.databaseSchema! }
    : { DATABASE_URL: '', FLOWGATE_DATA_DIR: target.config.dataDir };
  return runCli(['keys', 'create', ...args], db);
}

for (const kind of STORE_KINDS) {
  describe(`flowgate keys create on ${kind}: a key made offline works once the server runs`, () => {
    it('creates an admin key on a database no server has opened, and the server accepts it', async () => {
      const target = freshTarget(kind);
      const made = await keysCreate(target, ['--admin', '--json', '--name', 'recovery']);
      assert.equal(made.code, 0, made.stderr);
      const key = JSON.parse(made.stdout) as { id: string; workspaceId: string; scopes: string[]; secret: string };
      assert.deepEqual([key.workspaceId, key.scopes], ['ws-default', ['admin']]);
      const t = await startTestServer(kind, { apiKey: undefined }, target);
      try {
        const r = await t.api('GET', '/v1/api-keys', { key: key.secret });
        assert.equal(r.status, 200);
        assert.ok(r.body.data.keys.some((k: { id: string; name: string }) => k.id === key.id && k.name === 'recovery'));
        assert.equal(t.server.firstStartKey, undefined, 'a key exists, so no first-start key is made');
      } finally {
        await t.close();
      }
    });

    it('refuses unknown scopes and workspaces as one-line usage errors (exit 2)', async () => {
      const target = freshTarget(kind);
      try {
        const scopes = await keysCreate(target, ['--scopes', 'run,root']);
        assert.equal(scopes.code, 2);
        assert.match(scopes.stderr, /^flowgate: --scopes takes .*run, read, admin/);
        const ws = await keysCreate(target, ['--workspace', 'ws-nope']);
        assert.equal(ws.code, 2);
        assert.equal(ws.stderr.trim().split('\n').length, 1, ws.stderr);
        assert.match(ws.stderr, /workspace ws-nope does not exist/);
      } finally {
        await target.cleanup(false);
      }
    });
  });
}
