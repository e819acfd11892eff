import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import { readMigrations } from '../../src/store/migrations.ts';
import { freshTarget, STORE_KINDS, TEST_DATABASE_URL, type StoreKind, type StoreTarget } from '../helpers/stores.ts';

/** The last schema before canvasIds became per-workspace; rows written there must read the same after. */
const BEFORE = 6;

const seed = [
  `INSERT INTO workspaces (id, name, created_at) VALUES ('ws-default', 'ws-default', 1)`,
  `INSERT INTO workflows (id, workspace_id, title, version, created_at, updated_at, deleted_at) VALUES ('c-orders', 'ws-default', 'Orders v2', 2, 1, 2, NULL)`,
  `INSERT INTO workflow_versions (workflow_id, version, definition, created_at) VALUES ('c-orders', 1, '{"title":"Orders","tasks":[{"id":"o","kind":"output","value":1}]}', 1)`,
  `INSERT INTO workflow_versions (workflow_id, version, definition, created_at) VALUES ('c-orders', 2, '{"title":"Orders v2","tasks":[{"id":"o","kind":"output","value":2}]}', 2)`,
  `INSERT INTO webhooks (id, workspace_id, workflow_id, enabled, timeout_s, body_mode, created_at, updated_at) VALUES ('wh-1', 'ws-default', 'c-orders', 1, 30, 'variables', 1, 1)`,
  `INSERT INTO response_shapes (workflow_id, node_id, shape, updated_at) VALUES ('c-orders', 'o', '{"a":"number"}', 1)`,
];

async function applyUpTo(target: StoreTarget, kind: StoreKind): Promise<void> {
  const migrations = readMigrations(kind).filter((m) => m.id <= BEFORE);
  if (kind === 'sqlite') {
    const db = new Database(path.join(target.config.dataDir, 'flowgate.db'));
    db.pragma('foreign_keys = ON');
    db.exec('CREATE TABLE flowgate_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    for (const m of migrations) {
      db.exec(m.sql);
      db.prepare('INSERT INTO flowgate_migrations VALUES (?, ?, ?)').run(m.id, m.name, 1);
    }
    for (const s of seed) db.exec(s);
    db.close();
    return;
  }
  const schema = target.config.databaseSchema!;
  const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await c.connect();
  try {
    await c.query(`CREATE SCHEMA ${schema}; SET search_path = ${schema}`);
    await c.query('CREATE TABLE flowgate_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
    for (const m of migrations) {
      await c.query(m.sql);
      await c.query('INSERT INTO flowgate_migrations VALUES ($1, $2, 1)', [m.id, m.name]);
    }
    for (const s of seed) await c.query(s);
  } finally {
    await c.end();
  }
}

for (const kind of STORE_KINDS) {
  describe(`migrations on ${kind}: an existing database upgrades in place`, () => {
    it('workflows, versions, webhooks and response shapes written before workspace-scoped canvasIds read the same after', async () => {
      const target = freshTarget(kind);
      let ok = false;
      try {
        await applyUpTo(target, kind);
        const store = target.open();
        try {
          await store.migrate();
          const w = await store.catalog.getWorkflow('ws-default', 'c-orders');
          assert.equal(w?.version, 2);
          assert.equal(w?.title, 'Orders v2');
          assert.deepEqual((await store.catalog.getWorkflowVersion('ws-default', 'c-orders', 1))?.tasks, [{ id: 'o', kind: 'output', value: 1 }]);
          assert.equal((await store.webhooks.getWebhookForWorkflow('ws-default', 'c-orders'))?.webhookId, 'wh-1');
          // The same canvasId is now free in another workspace, and the first one is untouched.
          await store.catalog.ensureWorkspace('ws-2', 3);
          assert.equal(await store.catalog.createWorkflow('ws-2', 'c-orders', { title: 'Theirs', tasks: [{ id: 'o', kind: 'output', value: 3 }] }, 3), true);
          assert.equal((await store.catalog.getWorkflow('ws-2', 'c-orders'))?.title, 'Theirs');
          assert.equal((await store.catalog.getWorkflow('ws-default', 'c-orders'))?.title, 'Orders v2');
          assert.equal(await store.webhooks.getWebhookForWorkflow('ws-2', 'c-orders'), undefined);
        } finally {
          await store.close();
        }
        ok = true;
      } finally {
        await target.cleanup(!ok);
      }
    });
  });
}
