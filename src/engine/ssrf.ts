import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { Agent, type Dispatcher } from 'undici';

/**
 * SSRF guard (SPEC §4.14): `http` tasks and tools may not reach loopback, private, link-local or
 * other non-public addresses unless FLOWGATE_ALLOW_PRIVATE_NETWORKS is true. The check runs on the
 * addresses DNS returned, at connect time, so a public name that resolves to 127.0.0.1 (or changes
 * its answer between check and use) is still refused.
 */
const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24],
  ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) blocked.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['64:ff9b::', 96], ['2001:db8::', 32]] as const) {
  blocked.addSubnet(net, prefix, 'ipv6');
}

export function isPrivateAddress(ip: string): boolean {
  const family = isIP(ip);
  if (family === 4) return blocked.check(ip, 'ipv4');
  if (family !== 6) return true;
  // IPv4-mapped (::ffff:10.0.0.1) would otherwise slip past the IPv4 rules.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return blocked.check(mapped[1]!, 'ipv4');
  return blocked.check(ip, 'ipv6');
}

export class SsrfError extends Error {
  readonly code = 'SSRF_BLOCKED';
  constructor(host: string, address: string) {
    super(`refused to connect to ${host} (${address}): private or loopback address; set FLOWGATE_ALLOW_PRIVATE_NETWORKS=true to allow`);
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

function guardedLookup(hostname: string, options: object, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, '');
    const list = addresses as LookupAddress[];
    const bad = list.find((a) => isPrivateAddress(a.address));
    if (bad) return callback(new SsrfError(hostname, bad.address) as unknown as NodeJS.ErrnoException, '');
    const wantsAll = (options as { all?: boolean }).all;
    if (wantsAll) return callback(null, list);
    callback(null, list[0]!.address, list[0]!.family);
  });
}

let guarded: Dispatcher | undefined;
let open: Dispatcher | undefined;

/** One pooled dispatcher per mode for the whole process. */
export function dispatcherFor(allowPrivateNetworks: boolean): Dispatcher {
  if (allowPrivateNetworks) return (open ??= new Agent({ connections: 256 }));
  return (guarded ??= new Agent({ connections: 256, connect: { lookup: guardedLookup as never } }));
}

/** Literal IP hosts never go through DNS, so they are checked before the request is made. */
export function literalHostBlocked(url: URL, allowPrivateNetworks: boolean): SsrfError | undefined {
  if (allowPrivateNetworks) return undefined;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) && isPrivateAddress(host)) return new SsrfError(host, host);
  return undefined;
}

/** Whether an error (possibly wrapped by undici as `cause`) is our SSRF refusal. */
export function isSsrfError(e: unknown): e is SsrfError {
  let cur: unknown = e;
  for (let i = 0; i < 5 && cur; i++) {
    if (cur instanceof SsrfError || (cur as { code?: string }).code === 'SSRF_BLOCKED') return true;
    cur = (cur as { cause?: unknown }).cause;
  }
  return false;
}
