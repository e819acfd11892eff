import type { Transaction } from 'kysely';
import type { Tables } from './tables.ts';

/** SQLite binds at most 32,766 values per statement; PostgreSQL 65,535. */
export const MAX_BOUND_VALUES = 32_766;

/**
 * Inserts `rows` with as few multi-row INSERTs as the bound-value limit allows: the rows per
 * statement follow from the table's column count, so a wide table never overflows it.
 */
export async function insertChunked<T extends keyof Tables>(trx: Transaction<Tables>, table: T, rows: Tables[T][]): Promise<void> {
  if (rows.length === 0) return;
  const perInsert = Math.max(1, Math.floor(MAX_BOUND_VALUES / Object.keys(rows[0]!).length));
  for (let i = 0; i < rows.length; i += perInsert) {
    // Kysely cannot narrow a generic table's row type; the rows are that table's by construction.
    await trx.insertInto(table).values(rows.slice(i, i + perInsert) as never).execute();
  }
}
