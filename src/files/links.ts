import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Signed, expiring download links for output files: `/v1/files/{fileKey}/download?expires&sig`
 * works without an API key until `expires` (epoch seconds). The secret is shared by every process
 * through the store's settings.
 */
export function signLink(baseUrl: string, fileKey: string, expiresS: number, secret: string): string {
  return `${baseUrl}/v1/files/${fileKey}/download?expires=${expiresS}&sig=${signature(fileKey, expiresS, secret)}`;
}

function signature(fileKey: string, expiresS: number, secret: string): string {
  return createHmac('sha256', secret).update(`${fileKey}.${expiresS}`).digest('hex');
}

export function verifyLink(fileKey: string, expiresS: number, sig: string, secret: string, nowMs: number): 'ok' | 'expired' | 'bad' {
  const expected = Buffer.from(signature(fileKey, expiresS, secret), 'hex');
  const given = /^[0-9a-f]{64}$/.test(sig) ? Buffer.from(sig, 'hex') : Buffer.alloc(0);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'bad';
  return nowMs / 1000 > expiresS ? 'expired' : 'ok';
}
