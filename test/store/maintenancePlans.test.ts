import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { readMigrations } from '../../src/store/migrations.ts';
import { requeueMessages } from '../../src/store/sql/deliveries.ts';
import { timeOutExecutions } from '../../src/store/sql/executions.ts';
import { SQLITE_PROFILE } from '../../src/store/sql/profile.ts';
import { backlog, heartbeat, pendingExecutions, requeueExpiredLeases } from '../../src/store/sql/scheduling.ts';
import type { Tables } from '../../src/store/sql/tables.ts';

/**
 * The statements the server runs on a timer whatever the load — the backlog bound's count (4× a
 * second while triggers arrive) and the backlog metrics (when scraped), the execution-timeout sweep
 * and the lease sweeps of nodes and outbound events (every second), the lease heartbeat (twice a
 * second) — must read their partial indexes or primary keys: a full scan of `executions` or
 * `event_messages` costs the event loop tens of milliseconds at a million rows, every time.
 * SQLite matches a partial index's condition only against literals or a parameter's bound value, and
 * not for a bound `IN` list: the timeout sweep's `status IN (?, ?)` scanned the whole table.
 * The plans are taken with the parameters the statements ran with.
 */
describe('maintenance statements use their indexes (SQLite)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'flowgate-plans-'));
  const raw = new Database(path.join(dir, 'plans.db'));
  for (const m of readMigrations('sqlite')) raw.exec(m.sql);
  const ran: { sql: string; params: unknown[] }[] = [];
  // Records what runs, as the driver sends it.
  const spied = new Proxy(raw, {
    get(target, prop) {
      if (prop !== 'prepare') {
        const v = Reflect.get(target, prop, target);
        return typeof v === 'function' ? v.bind(target) : v;
      }
      return (text: string) => {
        const stmt = target.prepare(text);
        return new Proxy(stmt, {
          get(s, p) {
            const v = Reflect.get(s, p, s);
            if (p !== 'all' && p !== 'run' && p !== 'get') return typeof v === 'function' ? v.bind(s) : v;
            return (...params: unknown[]) => {
              ran.push({ sql: text, params: params.flat() });
              return (v as (...a: unknown[]) => unknown).apply(s, params);
            };
          },
        });
      };
    },
  });
  const db = new Kysely<Tables>({ dialect: new SqliteDialect({ database: spied }) });
  after(async () => {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const plansOf = async (fn: () => Promise<unknown>) => {
    ran.length = 0;
    await fn();
    assert.ok(ran.length > 0);
    return ran.map((r) => ({ sql: r.sql, plan: (raw.prepare(`EXPLAIN QUERY PLAN ${r.sql}`).all(...r.params) as { detail: string }[]).map((p) => p.detail).join('; ') }));
  };

  for (const [name, fn] of [
    ['the backlog bound', () => pendingExecutions(db, SQLITE_PROFILE, 10_000)],
    ['the backlog metrics', () => backlog(db, Date.now())],
    ['the execution-timeout sweep', () => timeOutExecutions(db, SQLITE_PROFILE, Date.now())],
    ['the lease sweep of outbound events', () => requeueMessages(db, { expiredBefore: Date.now() }, Date.now())],
    ['the lease sweep of nodes', () => requeueExpiredLeases(db, SQLITE_PROFILE, Date.now())],
    ['the lease heartbeat', () => heartbeat(db, SQLITE_PROFILE, 'w-1', ['we-1', 'we-2', 'we-3'], Date.now(), 1000)],
  ] as const) {
    it(`${name} reads an index, never the whole table`, async () => {
      for (const { sql, plan } of await plansOf(fn)) {
        assert.doesNotMatch(plan, /SCAN (executions|event_messages|node_executions)\b(?! USING COVERING INDEX (executions_pending|event_messages_leased))/, `${sql}\n→ ${plan}`);
        assert.doesNotMatch(plan, /executions_workspace_status/, `${sql}\n→ ${plan}`);
      }
    });
  }
});
