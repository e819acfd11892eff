import type { Transaction } from 'kysely';
import type { BackendProfile } from './profile.ts';
import { columnList, rowParams, run, statement, tuples } from './statements.ts';
import { chunks } from './values.ts';
import type { Tables } from './tables.ts';

/**
 * Inserts `rows` with a few multi-row INSERTs (see `chunks`): the rows per statement follow from the
 * table's column count, so a wide table never overflows the bound-value limit. Every row carries the
 * same columns (the table's full row), so the first row names them.
 */
export async function insertChunked<T extends keyof Tables>(trx: Transaction<Tables>, profile: BackendProfile, table: T, rows: readonly Tables[T][]): Promise<void> {
  if (rows.length === 0) return;
  const columns = Object.keys(rows[0]!) as (keyof Tables[T] & string)[];
  for (const part of chunks(profile, rows, columns.length)) {
    const text = statement(profile, `insert ${table} ${part.length} ${columns.join(',')}`, (p) => `INSERT INTO "${table}" (${columnList(columns)}) VALUES ${tuples(p, part.length, columns.length)}`);
    await run(trx, text, rowParams(part, columns));
  }
}
