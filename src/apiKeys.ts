import { hashSecret } from './http/auth.ts';
import { newApiKeyId, newApiKeySecret } from './ids.ts';
import type { ApiKeyRecord, Scope } from './store/store.ts';

/**
 * A new API key: the record to store (hashed) and the secret to show once. Every place that issues
 * keys — the API, instance administration, first start, the offline CLI — makes them here.
 */
export function mintApiKey(k: { workspaceId: string; name: string; scopes: Scope[]; createdAt: number; id?: string }): { record: ApiKeyRecord; secret: string } {
  const secret = newApiKeySecret();
  return {
    secret,
    record: {
      id: k.id ?? newApiKeyId(),
      workspaceId: k.workspaceId,
      name: k.name,
      prefix: secret.slice(0, 7),
      secretHash: hashSecret(secret),
      scopes: k.scopes,
      createdAt: k.createdAt,
    },
  };
}

/** What a key looks like in answers and lists: never its hash, the secret only when just created. */
export const apiKeyView = (k: ApiKeyRecord) => ({ id: k.id, name: k.name, prefix: k.prefix, scopes: k.scopes, createdAt: new Date(k.createdAt).toISOString() });
