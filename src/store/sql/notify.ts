import { sql, type Transaction } from 'kysely';
import type { BackendProfile } from './profile.ts';
import type { Tables } from './tables.ts';

/** The channel workers LISTEN on; the payload is empty: a wake-up, not a work item. */
export const WORK_CHANNEL = 'flowgate_work';

/** Queues a wake-up for every listening worker; PostgreSQL delivers it when the transaction commits. */
export async function notifyWork(trx: Transaction<Tables>, profile: BackendProfile): Promise<void> {
  if (profile.notifyWork) await sql`SELECT pg_notify(${WORK_CHANNEL}, '')`.execute(trx);
}
