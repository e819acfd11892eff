import type { BackendProfile } from './profile.ts';
import { columnList, MAX_BOUND_VALUES, tuples, type Placeholder } from './statements.ts';

/** The SQL type each column of a VALUES list is cast to: PostgreSQL would otherwise read every parameter as text. */
export type ValuesColumns<R> = { readonly [K in keyof R]: 'TEXT' | 'BIGINT' | 'INTEGER' };

/**
 * `WITH v(c1, c2, …) AS (VALUES (CAST(? AS T1), …), …)`: many rows' worth of per-row values in one
 * statement, for an `UPDATE … FROM v` that settles a whole batch at once instead of one statement per
 * row. A CTE because SQLite cannot name the columns of a bare VALUES list; casts on every value
 * because PostgreSQL types an untyped parameter in VALUES as text. Both stores run the same text.
 * Its parameters are `rowParams(rows, valuesNames(columns))`, before any the rest of the statement adds.
 */
export function valuesCte<R extends object>(p: Placeholder, columns: ValuesColumns<R>, rows: number): string {
  const names = valuesNames(columns);
  const types = names.map((n) => columns[n]);
  return `WITH v(${columnList(names)}) AS (VALUES ${tuples(p, rows, names.length, (ph, c) => `CAST(${ph} AS ${types[c]})`)})`;
}

/**
 * `AND table.column = ANY(ARRAY(SELECT column FROM v))` where keys can travel as one array
 * (PostgreSQL), else nothing: what keeps an `UPDATE table … FROM v` on its primary key whatever the
 * statistics say. Joined on the key alone, a batch of 128 rows was planned as a nested loop over a
 * sequential scan of `node_executions` whenever the last ANALYZE had seen no row in the status the
 * statement filters on (it guessed one matching row, and 128 index probes cost more than one scan):
 * 500 ms a statement at 30,000 node rows (auto_explain). Behind an InitPlan the planner cannot count
 * the keys, assumes a few, and reads the index (see `keyIn` in statements.ts).
 */
export const keyedBy = (profile: BackendProfile, table: string, column: string): string =>
  profile.keyArrays ? ` AND ${table}.${column} = ANY(ARRAY(SELECT v.${column} FROM v))` : '';

export const valuesNames = <R extends object>(columns: ValuesColumns<R>): (keyof R & string)[] => Object.keys(columns) as (keyof R & string)[];

/**
 * `rows` in slices small enough for one statement each, given how many values a row binds. Where
 * the store caches prepared statements by text (SQLite), each slice is also a power of two long
 * (37 rows: 32, 4, 1): every distinct length is a distinct statement whose program SQLite keeps in
 * native memory — a 128-row insert of 16 columns costs about 190 KB — and with every length from 1
 * to 128 in use the cache alone grew the process by tens of MB under load. PostgreSQL plans each
 * text anew anyway and pays a round trip per statement, so it gets one slice per bound-value limit.
 */
export function* chunks<R>(profile: BackendProfile, rows: readonly R[], valuesPerRow: number): Generator<readonly R[]> {
  if (!profile.cachesStatements) {
    const per = Math.max(1, Math.floor(MAX_BOUND_VALUES / valuesPerRow));
    for (let i = 0; i < rows.length; i += per) yield rows.slice(i, i + per);
    return;
  }
  let per = 1;
  while (per * 2 * valuesPerRow <= MAX_BOUND_VALUES) per *= 2;
  for (let i = 0; i < rows.length; ) {
    let n = per;
    while (n > rows.length - i) n /= 2;
    yield rows.slice(i, i + n);
    i += n;
  }
}
