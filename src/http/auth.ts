import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { fail, ok, type Result } from '../errors.ts';
import type { ApiKeyRecord, Scope, WorkspaceRecord } from '../store/store.ts';

/** SHA-256 is enough at rest: keys are 190 random bits, so there is nothing to brute-force. */
export const hashSecret = (secret: string): string => createHash('sha256').update(secret).digest('hex');

/** `Authorization: Bearer`, `X-API-Key`, or Refly's `X-Refly-Api-Key`. */
export function presentedKey(req: FastifyRequest): string | undefined {
  const auth = req.headers.authorization;
  if (auth && /^bearer\s+/i.test(auth)) return auth.replace(/^bearer\s+/i, '').trim() || undefined;
  const h = req.headers['x-api-key'] ?? req.headers['x-refly-api-key'];
  return (Array.isArray(h) ? h[0] : h)?.trim() || undefined;
}

export function hasScope(key: ApiKeyRecord, scope: Scope): boolean {
  return key.scopes.includes('admin') || key.scopes.includes(scope);
}

/** How a request's key and its workspace are looked up (through the server's read caches: a fresh hit is no promise). */
export interface KeyLookups {
  keyByHash(hash: string): ApiKeyRecord | undefined | Promise<ApiKeyRecord | undefined>;
  workspace(id: string): WorkspaceRecord | undefined | Promise<WorkspaceRecord | undefined>;
}

export async function authenticate(lookups: KeyLookups, req: FastifyRequest, scope: Scope): Promise<Result<ApiKeyRecord>> {
  const secret = presentedKey(req);
  if (!secret) return fail('UNAUTHORIZED', 'Missing API key: send Authorization: Bearer <key>');
  const hash = hashSecret(secret);
  const key = await lookups.keyByHash(hash);
  // The lookup is by hash; the constant-time comparison keeps the final check free of timing leaks.
  if (!key || !timingSafeEqual(Buffer.from(key.secretHash, 'hex'), Buffer.from(hash, 'hex'))) {
    return fail('UNAUTHORIZED', 'Invalid API key');
  }
  if ((await lookups.workspace(key.workspaceId))?.disabledAt !== undefined) {
    return fail('WORKSPACE_DISABLED', `Workspace ${key.workspaceId} is disabled by the instance administrator`);
  }
  if (!hasScope(key, scope)) return fail('FORBIDDEN', `This API key lacks the "${scope}" scope`);
  return ok(key);
}

/** The instance admin key, compared in constant time; workspace API keys are not accepted here. */
export function authenticateInstanceAdmin(adminKey: string | undefined, req: FastifyRequest): Result<true> {
  if (!adminKey) return fail('FORBIDDEN', 'Workspace administration is off: start the server with FLOWGATE_ADMIN_KEY set');
  const secret = presentedKey(req);
  if (!secret) return fail('UNAUTHORIZED', 'Missing instance admin key: send Authorization: Bearer <FLOWGATE_ADMIN_KEY>');
  const a = createHash('sha256').update(secret).digest();
  const b = createHash('sha256').update(adminKey).digest();
  if (!timingSafeEqual(a, b)) return fail('UNAUTHORIZED', 'Invalid instance admin key (a workspace API key does not work here)');
  return ok(true);
}
