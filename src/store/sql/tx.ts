import type { Kysely, Transaction } from 'kysely';
import type { Tables } from './tables.ts';

/** PostgreSQL's deadlock_detected and serialization_failure: the transaction did nothing and can run again. */
const TRANSIENT = new Set(['40P01', '40001']);
const ATTEMPTS = 5;

/**
 * Runs `fn` in a transaction, again if the database aborted it as a deadlock victim. Transitions
 * take their locks in one order (nodes, then attempts, then the execution), so this is a backstop,
 * not the mechanism.
 */
export async function transaction<T>(db: Kysely<Tables>, fn: (trx: Transaction<Tables>) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction().execute(fn);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (!code || !TRANSIENT.has(code) || attempt >= ATTEMPTS) throw e;
      await new Promise((r) => setTimeout(r, Math.random() * 10 * attempt));
    }
  }
}
