import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { fail, ok, type Result } from '../errors.ts';
import { isPrivateAddress } from '../engine/ssrf.ts';

/**
 * Checks an endpoint URL when it is set: http(s) only, and unless private networks are
 * allowed, every address its name resolves to must be public. Delivery checks again at connect
 * time, so a name that later starts resolving to 127.0.0.1 is still refused.
 */
export async function checkEndpointUrl(raw: string, allowPrivateNetworks: boolean): Promise<Result<string>> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return fail('ENDPOINT_URL_REFUSED', `${JSON.stringify(raw)} is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return fail('ENDPOINT_URL_REFUSED', `Only http and https endpoints are supported, got ${url.protocol}`);
  if (url.username || url.password) return fail('ENDPOINT_URL_REFUSED', 'Credentials in the URL are not allowed; use custom headers');
  if (allowPrivateNetworks) return ok(url.toString());
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: string[];
  try {
    addresses = isIP(host) ? [host] : (await lookup(host, { all: true })).map((a) => a.address);
  } catch {
    return fail('ENDPOINT_URL_REFUSED', `${host} does not resolve`);
  }
  const bad = addresses.find(isPrivateAddress);
  if (bad) {
    return fail('ENDPOINT_URL_REFUSED', `${host} resolves to ${bad}, a private or loopback address; set FLOWGATE_ALLOW_PRIVATE_NETWORKS=true to allow`);
  }
  return ok(url.toString());
}
