import { CompiledQuery, type Kysely } from 'kysely';
import type { BackendProfile } from './profile.ts';
import type { Tables } from './tables.ts';

/**
 * The statements of the write path (accept, worker turn, outbox, delivery settle) as SQL text built
 * once per shape and batch size, then executed with fresh parameters (STYLE 5: raw SQL on hot paths).
 * Building them through Kysely's query builder allocated an immutable node per value and compiled the
 * tree on every call: 10–13% of the CPU of an ingest load, and much of its garbage.
 *
 * A builder receives `p`, which hands out the dialect's next placeholder (`?` on SQLite, `$1, $2, …`
 * on PostgreSQL); the caller lists the parameters in the order the builder placed them.
 */
export type Placeholder = () => string;

/** SQLite binds at most 32,766 values per statement; PostgreSQL 65,535. */
export const MAX_BOUND_VALUES = 32_766;

/**
 * Distinct texts kept. Batch verbs have one per batch size (on PostgreSQL, every size up to the
 * batch limit), and a text of a hundred rows runs to tens of KB: the bound keeps them to a few MB.
 */
const MAX_TEXTS = 500;
const texts = new Map<string, string>();

/**
 * Texts PostgreSQL keeps prepared on each connection, by name (see `preparedName`). After five runs
 * PostgreSQL may keep one generic plan until the table is next analysed, and a generic plan made
 * while a table is empty scans it whole for anything else — keys behind an InitPlan (`keyIn`)
 * included, measured: the end-to-end drain halved as the advance read's plan scanned the growing
 * node table. So a text is prepared everywhere (`prepared: true`) only if it does not change with the
 * batch size and looks rows up by equality on an index's leading column, or only inserts (the
 * PostgreSQL accept, whose rows travel as JSON).
 *
 * The turn statements of workers and dispatchers (`prepared: 'queue'`) are joins over a batch, for which no plan is
 * safe by shape alone; they are prepared only on the queue's own connections, where sequential scans
 * are disabled (postgres/open.ts): every table they touch is then read through its keys, whatever
 * the plan was made from. Elsewhere (an abort's advance, on the main pool) they are planned afresh.
 */
const preparedNames = new Map<string, { name: string; queueOnly: boolean }>();

export function statement(profile: BackendProfile, key: string, build: (p: Placeholder) => string, opts?: { prepared?: boolean | 'queue' }): string {
  const k = `${profile.kind}\u0000${key}`;
  let text = texts.get(k);
  if (text === undefined) {
    let i = 0;
    text = build(profile.kind === 'postgres' ? () => `$${++i}` : () => '?');
    if (texts.size >= MAX_TEXTS) texts.clear();
    texts.set(k, text);
    if (opts?.prepared && profile.kind === 'postgres' && !preparedNames.has(text)) {
      preparedNames.set(text, { name: `flowgate_${preparedNames.size + 1}`, queueOnly: opts.prepared === 'queue' });
    }
  }
  return text;
}

/**
 * The name a PostgreSQL connection prepares `text` under, if it is one of the `prepared` statements
 * (those marked `'queue'` only on the queue's connections): planning was most of what they cost the
 * database (a status read's three lookups: 0.9 ms of planning against 0.3 ms of execution; a worker's
 * claim 0.3 ms against 0.1 ms).
 */
export function preparedName(text: string, queueConnection: boolean): string | undefined {
  const p = preparedNames.get(text);
  return p && (queueConnection || !p.queueOnly) ? p.name : undefined;
}

/** Every text prepared by name so far, and whether only on the queue's connections (for the test that takes their generic plans). */
export const preparedTexts = (): { text: string; queueOnly: boolean }[] => [...preparedNames].map(([text, p]) => ({ text, queueOnly: p.queueOnly }));

/** Runs a statement built by `statement` inside `db` (a transaction or the database) and returns its rows. */
export async function run<R>(db: Kysely<Tables>, text: string, params: readonly unknown[]): Promise<R[]> {
  return (await db.executeQuery<R>(CompiledQuery.raw(text, params as unknown[]))).rows;
}

/**
 * `column` as a value no index can serve, for a guard on a row already found by its key. Written as
 * a plain equality such a guard matched a partial index whose predicate it implies, and PostgreSQL
 * read that index whole beside the key lookup:
 * - an execution's status (`executions_pending`, `executions_live_deadline`): before autovacuum's first
 *   analysis every start and finish read the whole backlog (2–3 ms each with a backlog of thousands);
 * - a node's lease owner (`node_executions_leases`): 33,000 entries, most of them dead, 1.2 ms of a
 *   1.6 ms settle;
 * - a message's `delivering` status (`event_messages_leased`): 9,600 entries, a fifth of a delivery turn.
 * (auto_explain, in each case). `coalesce`, not `|| ''`: concatenation is strict, so from
 * `(lease_owner || '') = $1` PostgreSQL still proves `lease_owner IS NOT NULL` and takes the index.
 */
export const unindexed = (column: string): string => `coalesce(${column}, '')`;

/** `"a", "b"`: identifiers quoted, as some column names (`trigger`, `key`) are keywords. */
export const columnList = (names: readonly string[]): string => names.map((n) => `"${n}"`).join(', ');

/** `(p, p), (p, p)` for `rows` tuples of `width` placeholders, each optionally wrapped (a cast). */
export function tuples(p: Placeholder, rows: number, width: number, wrap?: (placeholder: string, column: number) => string): string {
  const out: string[] = [];
  for (let r = 0; r < rows; r++) {
    const cells: string[] = [];
    for (let c = 0; c < width; c++) cells.push(wrap ? wrap(p(), c) : p());
    out.push(`(${cells.join(', ')})`);
  }
  return out.join(', ');
}

/** `p, p, p`: an IN list of `n` placeholders. */
export function inList(p: Placeholder, n: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(p());
  return out.join(', ');
}

/**
 * `column` equals one of `n` keys. Where keys can travel as one array (PostgreSQL) they go behind an
 * InitPlan, `= ANY(ARRAY(SELECT unnest($1)))`, whose length the planner cannot see: it assumes a few
 * keys and takes the index. As an IN list of 32 keys on a table autovacuum has not analysed yet — a
 * new database under load; statistics come a minute or more later — each key was guessed at 0.5% of
 * the rows and the lookup planned as a sequential scan (auto_explain: 2–3 ms a turn at 30,000 node
 * rows, growing with the table). Its parameters are `keyParams(profile, keys)`.
 */
export function keyIn(profile: BackendProfile, p: Placeholder, column: string, n: number): string {
  return profile.keyArrays ? `${column} = ANY(ARRAY(SELECT unnest(CAST(${p()} AS TEXT[]))))` : `${column} IN (${inList(p, n)})`;
}

export const keyParams = (profile: BackendProfile, keys: readonly string[]): unknown[] => (profile.keyArrays ? [keys] : [...keys]);

/**
 * An IN list's values, where statements are cached by text (SQLite) repeated at the end up to a power
 * of two, so lists of any length share a few texts (see `chunks` in values.ts); repeats change nothing.
 */
export function padded<T>(profile: BackendProfile, values: readonly T[]): T[] {
  if (!profile.cachesStatements || values.length === 0) return [...values];
  let n = 1;
  while (n < values.length) n *= 2;
  return Array.from({ length: n }, (_, i) => values[Math.min(i, values.length - 1)]!);
}

/** The values of `rows`, row by row, in the order of `columns`. */
export function rowParams<R extends object>(rows: readonly R[], columns: readonly (keyof R)[]): unknown[] {
  const out: unknown[] = [];
  for (const r of rows) for (const c of columns) out.push(r[c] ?? null);
  return out;
}
