/**
 * What differs between the two backends, in one place (pg-boss's BACKEND_PROFILES). Code that needs
 * a dialect difference reads a capability here instead of testing which store it is on.
 */
export interface BackendProfile {
  kind: 'sqlite' | 'postgres';
  /** `FOR UPDATE SKIP LOCKED` on claims; SQLite serialises writers, so it needs none. */
  skipLocked: boolean;
  /**
   * `SELECT … FOR UPDATE` exists. PostgreSQL needs it to serialise the transitions of one execution
   * (two siblings ending at once must not both miss the other); SQLite serialises every write anyway.
   */
  rowLocks: boolean;
  /**
   * Only one process uses the database, so at start every lease left by a previous run belongs to a
   * dead process and can be released at once instead of waiting for it to expire.
   */
  singleProcess: boolean;
  /**
   * `pg_notify` on new work, delivered at commit, so workers in other processes wake at once instead
   * of at their next poll. SQLite has one process, whose in-process bus already wakes its worker.
   */
  notifyWork: boolean;
  /**
   * Prepared statements are cached by their text in this process (our SQLite connection does; see
   * sqlite/open.ts), so batch verbs keep the number of distinct texts small (sql/values.ts `chunks`).
   */
  cachesStatements: boolean;
  /**
   * `WITH a AS (UPDATE … RETURNING …) INSERT … SELECT … FROM a` in one statement: PostgreSQL runs a
   * multi-step verb in one round trip. SQLite has no such CTEs and needs none (no round trips).
   */
  modifyingCtes: boolean;
  /** A list of keys can be bound as one array parameter (see `keyIn` in statements.ts). */
  keyArrays: boolean;
  /**
   * How one transaction commits without waiting for the disk: atomic and safe when this process
   * dies, but the newest such commits may roll back if the machine loses power. Statements run as
   * the transaction's first (PostgreSQL's per-transaction `synchronous_commit`), or on its
   * connection before and after it (SQLite's `synchronous` is per connection; WAL makes the next
   * durable commit durable for everything before it too).
   */
  lazyCommit: { first: string } | { before: string; after: string };
  /** Whether a driver error is a unique-constraint violation. */
  isUniqueViolation(e: unknown): boolean;
}

export const SQLITE_PROFILE: BackendProfile = {
  kind: 'sqlite',
  skipLocked: false,
  rowLocks: false,
  notifyWork: false,
  cachesStatements: true,
  modifyingCtes: false,
  keyArrays: false,
  singleProcess: true,
  lazyCommit: { before: 'PRAGMA synchronous = NORMAL', after: 'PRAGMA synchronous = FULL' },
  isUniqueViolation: (e) => (e as { code?: string })?.code?.startsWith('SQLITE_CONSTRAINT') ?? false,
};

export const POSTGRES_PROFILE: BackendProfile = {
  kind: 'postgres',
  skipLocked: true,
  rowLocks: true,
  notifyWork: true,
  cachesStatements: false,
  modifyingCtes: true,
  keyArrays: true,
  singleProcess: false,
  lazyCommit: { first: 'SET LOCAL synchronous_commit = off' },
  isUniqueViolation: (e) => (e as { code?: string })?.code === '23505',
};
