/**
 * Whether an error means the store cannot be reached right now (as opposed to a bug): the HTTP layer
 * answers these with 503 SERVICE_UNAVAILABLE and Retry-After, so clients retry instead of giving up.
 */
const PG_CONNECTION_CLASSES = ['08', '57P']; // connection exceptions; admin/crash shutdown
const NODE_NET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND']);

export function isStoreUnavailable(e: unknown): boolean {
  const err = e as { code?: string; message?: string } | undefined;
  if (!err) return false;
  const code = err.code ?? '';
  if (NODE_NET_CODES.has(code) || PG_CONNECTION_CLASSES.some((c) => code.startsWith(c))) return true;
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_CANTOPEN' || code === 'SQLITE_IOERR') return true;
  const msg = err.message ?? '';
  return /driver has already been destroyed|database connection is not open|Connection terminated|timeout exceeded when trying to connect/i.test(msg);
}
