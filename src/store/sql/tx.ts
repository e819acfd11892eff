import type { Kysely, Transaction } from 'kysely';
import type { BackendProfile } from './profile.ts';
import { announceCommitted } from './notify.ts';
import { run } from './statements.ts';
import type { Tables } from './tables.ts';

/** PostgreSQL's deadlock_detected and serialization_failure: the transaction did nothing and can run again. */
const TRANSIENT = new Set(['40P01', '40001']);
const ATTEMPTS = 5;

/**
 * Runs `fn` in a transaction, again if the database aborted it as a deadlock victim (transitions take
 * their locks in one order — nodes, then attempts, then the execution — so this is a backstop, not the
 * mechanism). Once it committed, this process's listeners hear of the work it queued (`root`: the
 * store's database, when `db` is one of its connections).
 */
export function transaction<T>(db: Kysely<Tables>, fn: (trx: Transaction<Tables>) => Promise<T>, root: Kysely<Tables> = db): Promise<T> {
  return committed(db, fn, root, true);
}

/**
 * Databases holding outbound events written by a lazy commit that no durable commit has synced yet
 * (SQLite, where all commits of the database are this process's). In WAL mode a durable commit
 * syncs every commit before it, so the first one clears this.
 */
const unsyncedEvents = new WeakSet<Kysely<Tables>>();

async function committed<T>(db: Kysely<Tables>, fn: (trx: Transaction<Tables>) => Promise<T>, root: Kysely<Tables>, durable: boolean): Promise<T> {
  return retryTransient(async () => {
    let current: Transaction<Tables> | undefined;
    const out = await db.transaction().execute((trx) => fn((current = trx)));
    const kinds = announceCommitted(root, current!);
    if (durable) unsyncedEvents.delete(root);
    else if (kinds?.has('messages')) unsyncedEvents.add(root);
    return out;
  });
}

/** Runs `fn` — a transaction, or one statement that is its own — again while the database aborts it as a deadlock victim. */
export async function retryTransient<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (!code || !TRANSIENT.has(code) || attempt >= ATTEMPTS) throw e;
      await new Promise((r) => setTimeout(r, Math.random() * 10 * attempt));
    }
  }
}

/**
 * A transaction whose commit does not wait for the disk (see `lazyCommit` in the profile): for
 * writes that may be lost with the machine's power because losing them only repeats work that is
 * allowed to repeat — a delivery recorded as done is, at worst, delivered again (at-least-once, same
 * `webhook-id`); a deterministic task evaluated again gives the same result. Never for accepts or
 * the results of tasks that reach outside (`http`, `agent`).
 *
 * Events such a commit wrote must not leave before they are on disk — after a power loss they would
 * be written again under new ids — so while any are unsynced, the next lazy transaction (the
 * dispatcher's claim among them) commits durably instead, which syncs them too.
 */
export async function lazyTransaction<T>(db: Kysely<Tables>, profile: BackendProfile, fn: (trx: Transaction<Tables>) => Promise<T>): Promise<T> {
  const lazy = profile.lazyCommit;
  if ('first' in lazy) {
    return transaction(db, async (trx) => {
      await run(trx, lazy.first, []);
      return fn(trx);
    });
  }
  // The connection is held from before to after, so no other transaction commits in between with
  // the relaxed setting.
  return db.connection().execute(async (conn) => {
    // Checked holding the only connection: no commit can come between the check and this one.
    if (unsyncedEvents.has(db)) return committed(conn, fn, db, true);
    await run(conn, lazy.before, []);
    try {
      return await committed(conn, fn, db, false);
    } finally {
      await run(conn, lazy.after, []);
    }
  });
}
