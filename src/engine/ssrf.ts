import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { Agent, type Dispatcher } from 'undici';

/**
 * SSRF guard: `http` tasks and tools may not reach loopback, private, link-local or
 * other non-public addresses unless FLOWGATE_ALLOW_PRIVATE_NETWORKS is true. The check runs on the
 * addresses DNS returned, at connect time, so a public name that resolves to 127.0.0.1 (or changes
 * its answer between check and use) is still refused.
 */
type IPv4 = ipaddr.IPv4;
type IPv6 = ipaddr.IPv6;

const v4 = (hi: number, lo: number): IPv4 => new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);

/**
 * The IPv4 addresses an IPv6 address carries, for the forms that route to them: mapped and SIIT
 * (`::ffff:a.b.c.d`, `::ffff:0:a.b.c.d`), NAT64 well-known prefix (`64:ff9b::a.b.c.d`), 6to4
 * (`2002:AABB:CCDD::`) and Teredo (server and obfuscated client). Without this, `::ffff:7f00:1` or
 * `2002:7f00:1::` would pass as public IPv6 and reach loopback.
 */
function embeddedIPv4(addr: IPv6, range: string): IPv4[] | undefined {
  const p = addr.parts;
  switch (range) {
    case 'ipv4Mapped':
    case 'rfc6145':
      return [v4(p[6]!, p[7]!)];
    case 'rfc6052':
      // Only the /96 well-known prefix puts the IPv4 in the last 32 bits; the local-use /48 varies.
      return addr.match(ipaddr.IPv6.parse('64:ff9b::'), 96) ? [v4(p[6]!, p[7]!)] : undefined;
    case '6to4':
      return [v4(p[1]!, p[2]!)];
    case 'teredo':
      return [v4(p[2]!, p[3]!), v4(~p[6]! & 0xffff, ~p[7]! & 0xffff)];
    default:
      return undefined;
  }
}

/**
 * Only globally routable unicast is public. Classification comes from ipaddr.js's maintained range
 * tables; anything it cannot parse, any special range and any embedded IPv4 that is itself
 * non-public counts as private.
 */
export function isPrivateAddress(ip: string): boolean {
  if (!ipaddr.isValid(ip)) return true;
  const addr = ipaddr.parse(ip);
  if (addr.kind() === 'ipv4') return addr.range() !== 'unicast';
  const v6 = addr as IPv6;
  // ::/96 holds ::, ::1 and the deprecated IPv4-compatible form (::7f00:1), which some stacks still
  // route to the IPv4 address; no public host lives there.
  if (v6.parts.slice(0, 6).every((x) => x === 0)) return true;
  const range = v6.range();
  const embedded = embeddedIPv4(v6, range);
  if (embedded) return embedded.some((a) => a.range() !== 'unicast');
  return range !== 'unicast';
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
