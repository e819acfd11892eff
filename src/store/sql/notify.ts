import { EventEmitter } from 'node:events';
import type { Kysely, Transaction } from 'kysely';
import type { WorkKind } from '../store.ts';
import type { BackendProfile } from './profile.ts';
import { run, statement } from './statements.ts';
import type { Tables } from './tables.ts';

/** The channel workers and dispatchers LISTEN on; the payload says which queue got work. */
export const WORK_CHANNEL = 'flowgate_work';

/** Kinds queued by a transaction of a store that wakes in-process, announced once it commits. */
const queued = new WeakMap<Transaction<Tables>, Set<WorkKind>>();
/** The in-process listeners of each database (SQLite: one process, no LISTEN/NOTIFY). */
const local = new WeakMap<Kysely<Tables>, EventEmitter>();

/**
 * Queues a wake-up for whoever waits on `kind` (node workers or event dispatchers): with
 * PostgreSQL every listening process hears it when the transaction commits; otherwise this
 * process's listeners hear it after the commit (`announceCommitted`).
 */
export async function notifyWork(trx: Transaction<Tables>, profile: BackendProfile, kind: WorkKind): Promise<void> {
  if (profile.notifyWork) {
    await run(trx, statement(profile, 'notify work', (p) => `SELECT pg_notify(${p()}, ${p()})`, { prepared: true }), [WORK_CHANNEL, kind]);
    return;
  }
  let kinds = queued.get(trx);
  if (!kinds) queued.set(trx, (kinds = new Set()));
  kinds.add(kind);
}

/** Called by `transaction()` after `trx` committed on `db`; returns the kinds of work it queued. */
export function announceCommitted(db: Kysely<Tables>, trx: Transaction<Tables>): ReadonlySet<WorkKind> | undefined {
  const kinds = queued.get(trx);
  if (!kinds) return undefined;
  queued.delete(trx);
  const listeners = local.get(db);
  if (listeners) for (const k of kinds) listeners.emit(k);
  return kinds;
}

/** Listens in-process for work committed on `db`; returns the unsubscribe function. */
export function listenLocally(db: Kysely<Tables>, kind: WorkKind, wake: () => void): () => Promise<void> {
  let listeners = local.get(db);
  if (!listeners) {
    local.set(db, (listeners = new EventEmitter()));
    // One worker and one dispatcher per process, but tests open many of each on one store.
    listeners.setMaxListeners(0);
  }
  listeners.on(kind, wake);
  return async () => void listeners.off(kind, wake);
}
