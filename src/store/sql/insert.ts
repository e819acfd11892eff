import type { Transaction } from 'kysely';
import type { BackendProfile } from './profile.ts';
import { columnList, rowParams, run, statement, tuples } from './statements.ts';
import type { Tables } from './tables.ts';

/** SQLite binds at most 32,766 values per statement; PostgreSQL 65,535. */
export const MAX_BOUND_VALUES = 32_766;

/**
 * Inserts `rows` with as few multi-row INSERTs as the bound-value limit allows: the rows per
 * statement follow from the table's column count, so a wide table never overflows it. Every row
 * carries the same columns (the table's full row), so the first row names them.
 */
export async function insertChunked<T extends keyof Tables>(trx: Transaction<Tables>, profile: BackendProfile, table: T, rows: readonly Tables[T][]): Promise<void> {
  if (rows.length === 0) return;
  const columns = Object.keys(rows[0]!) as (keyof Tables[T] & string)[];
  const perInsert = Math.max(1, Math.floor(MAX_BOUND_VALUES / columns.length));
  for (let i = 0; i < rows.length; i += perInsert) {
    const part = rows.slice(i, i + perInsert);
    const text = statement(profile, `insert ${table} ${part.length} ${columns.join(',')}`, (p) => `INSERT INTO "${table}" (${columnList(columns)}) VALUES ${tuples(p, part.length, columns.length)}`);
    await run(trx, text, rowParams(part, columns));
  }
}
