import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import { notifyWork } from '../../src/store/sql/notify.ts';
import { SQLITE_PROFILE } from '../../src/store/sql/profile.ts';
import type { Tables } from '../../src/store/sql/tables.ts';
import { lazyTransaction, transaction } from '../../src/store/sql/tx.ts';

/**
 * Lazy commits on SQLite (synchronous=NORMAL for one transaction) and the rule that keeps them safe:
 * outbound events a lazy commit wrote are synced by a durable commit before anything can claim them.
 */
describe('lazy commits (SQLite)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'flowgate-lazy-'));
  const raw = new Database(path.join(dir, 'lazy.db'));
  raw.pragma('journal_mode = WAL');
  raw.pragma('synchronous = FULL');
  const db = new Kysely<Tables>({ dialect: new SqliteDialect({ database: raw }) });
  after(async () => {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The connection's `synchronous` while `fn`'s transaction runs: 1 = NORMAL (lazy), 2 = FULL. */
  const level = async (trx: Kysely<Tables>) => (await sql<{ synchronous: number }>`PRAGMA synchronous`.execute(trx)).rows[0]!.synchronous;

  it('commits lazily, and durably the next time once a lazy commit wrote outbound events', async () => {
    assert.equal(await lazyTransaction(db, SQLITE_PROFILE, level), 1);
    assert.equal(await transaction(db, level), 2);
    assert.equal(raw.pragma('synchronous', { simple: true }), 2, 'the connection is back to FULL after a lazy commit');

    await lazyTransaction(db, SQLITE_PROFILE, (trx) => notifyWork(trx, SQLITE_PROFILE, 'messages'));
    assert.equal(await lazyTransaction(db, SQLITE_PROFILE, level), 2, 'events written lazily are synced before the next lazy commit');
    assert.equal(await lazyTransaction(db, SQLITE_PROFILE, level), 1, 'that durable commit synced them');

    await lazyTransaction(db, SQLITE_PROFILE, (trx) => notifyWork(trx, SQLITE_PROFILE, 'nodes'));
    assert.equal(await lazyTransaction(db, SQLITE_PROFILE, level), 1, 'queued nodes are not events');

    await lazyTransaction(db, SQLITE_PROFILE, (trx) => notifyWork(trx, SQLITE_PROFILE, 'messages'));
    await transaction(db, async () => undefined);
    assert.equal(await lazyTransaction(db, SQLITE_PROFILE, level), 1, 'any durable commit syncs what came before it');
  });
});
