import { lookup as dnsLookup } from 'node:dns/promises';
import type { LookupAddress, LookupOptions } from 'node:dns';
import { isIP } from 'node:net';
import { buildConnector } from 'undici';
import { AppError } from './errors.ts';

/**
 * The outbound address policy: where the service may connect on a user's behalf (webhook receivers,
 * an integration's J.P. Morgan base URL, the connection test). A user-supplied URL must not turn us
 * into a proxy into our own network (SSRF): cloud metadata at 169.254.169.254, Redis on loopback,
 * internal services on private ranges.
 *
 * Rules, applied to every address a host name resolves to (and to IP literals, in every spelling the
 * URL parser accepts: `2130706433`, `0x7f.1`, `[::ffff:127.0.0.1]` are all 127.0.0.1 by then):
 *  - IPv4: refused are 0/8 (unspecified), 10/8, 172.16/12, 192.168/16 (private), 100.64/10 (CGNAT),
 *    127/8 (loopback), 169.254/16 (link-local, cloud metadata), 192.0.0/24, 192.0.2/24, 198.18/15,
 *    198.51.100/24, 203.0.113/24, 192.88.99/24 (reserved, documentation, benchmarking), 224/4
 *    (multicast), 240/4 (reserved) and 255.255.255.255 (broadcast);
 *  - IPv6: only global unicast (2000::/3) minus documentation and IETF protocol ranges; IPv6 forms that
 *    carry an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are
 *    judged by that IPv4 address; ULA fc00::/7, link-local fe80::/10, site-local, multicast ff00::/8,
 *    loopback, unspecified, IPv4-compatible ::/96, NAT64 local-use 64:ff9b:1::/48 are refused.
 *
 * Exceptions per deployment (`OUTBOUND_ALLOW`): CIDR ranges or single addresses, and host names. A
 * development machine allows loopback explicitly so the simulator and local receivers work.
 *
 * Checked twice: when a URL is registered (its host resolved now) and when we connect, through
 * `lookup` (every resolved address is checked and the connection goes to the checked address) and
 * `assertLiteralHost` for IP literals, which never reach a resolver. A host that resolves to a public
 * address at registration and to 127.0.0.1 later (DNS rebinding) is refused at connect time.
 */

export type AddressClass =
  'public' | 'loopback' | 'private' | 'link_local' | 'cgnat' | 'multicast' | 'unspecified' | 'broadcast' | 'reserved';

/** A URL whose host is not allowed: a 400 `outbound_address_refused` when it reaches the API. */
export class OutboundAddressError extends AppError {
  readonly addressClass: AddressClass | 'unresolvable';
  constructor(message: string, addressClass: AddressClass | 'unresolvable', options: { path?: string } = {}) {
    super(message, {
      code: 'outbound_address_refused',
      httpStatus: 400,
      details: { fields: [{ path: options.path ?? 'url', message: 'address not allowed' }] },
    });
    this.addressClass = addressClass;
  }
}

/** The `code` of a connect-time refusal as a socket error (it reaches the caller wrapped by undici or `net`). */
export const ADDRESS_REFUSED_CODE = 'EADDRNOTALLOWED';

/** Whether an error (or its cause chain) is a connect-time refusal by the policy. */
export function isAddressRefusal(err: unknown): boolean {
  for (
    let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0;
    e && depth < 5;
    e = e.cause as typeof e, depth++
  ) {
    if (e.code === ADDRESS_REFUSED_CODE || e instanceof OutboundAddressError) {
      return true;
    }
  }
  return false;
}

/** Resolves a host name to every address it has (node's `dns.lookup` with `all: true` by default). */
export type Resolver = (host: string) => Promise<readonly LookupAddress[]>;

export const systemResolver: Resolver = (host) => dnsLookup(host, { all: true, verbatim: true });

interface Cidr {
  family: 4 | 6;
  base: bigint;
  bits: number;
}

function ipv4ToBigInt(ip: string): bigint {
  return ip.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

/** 8 groups of 16 bits; accepts `::` and a trailing dotted IPv4 (`::ffff:1.2.3.4`). Input must be a valid IPv6. */
function ipv6ToBigInt(ip: string): bigint {
  let text = ip.toLowerCase().split('%')[0] ?? '';
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)?.[1];
  if (dotted) {
    const v4 = ipv4ToBigInt(dotted);
    text = `${text.slice(0, -dotted.length)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups =
    tail === undefined
      ? headGroups
      : [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

function parseCidr(text: string): Cidr | undefined {
  const [addr = '', bitsText] = text.trim().split('/');
  const family = isIP(addr);
  if (family === 0) {
    return undefined;
  }
  const max = family === 4 ? 32 : 128;
  const bits = bitsText === undefined ? max : Number(bitsText);
  if (!Number.isInteger(bits) || bits < 0 || bits > max || (bitsText !== undefined && !/^\d+$/.test(bitsText))) {
    return undefined;
  }
  const value = family === 4 ? ipv4ToBigInt(addr) : ipv6ToBigInt(addr);
  const shift = BigInt(max - bits);
  return { family: family as 4 | 6, base: (value >> shift) << shift, bits };
}

function contains(cidr: Cidr, family: 4 | 6, value: bigint): boolean {
  if (cidr.family !== family) {
    return false;
  }
  const shift = BigInt((family === 4 ? 32 : 128) - cidr.bits);
  return value >> shift === cidr.base >> shift;
}

const cidrs = (entries: [string, AddressClass][]): [Cidr, AddressClass][] =>
  entries.map(([c, k]) => [parseCidr(c)!, k]);

const IPV4_RANGES = cidrs([
  ['255.255.255.255/32', 'broadcast'],
  ['0.0.0.0/8', 'unspecified'],
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'cgnat'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link_local'],
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'reserved'],
  ['192.0.2.0/24', 'reserved'],
  ['192.88.99.0/24', 'reserved'],
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'reserved'],
  ['198.51.100.0/24', 'reserved'],
  ['203.0.113.0/24', 'reserved'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved'],
]);

const IPV6_RANGES = cidrs([
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['64:ff9b:1::/48', 'private'],
  ['fc00::/7', 'private'],
  ['fe80::/10', 'link_local'],
  ['fec0::/10', 'private'],
  ['ff00::/8', 'multicast'],
  ['2001:db8::/32', 'reserved'],
  ['2001::/23', 'reserved'],
  ['3fff::/20', 'reserved'],
  ['100::/64', 'reserved'],
]);
const GLOBAL_UNICAST = parseCidr('2000::/3')!;
const MAPPED = parseCidr('::ffff:0:0/96')!;
const NAT64 = parseCidr('64:ff9b::/96')!;
const SIX_TO_FOUR = parseCidr('2002::/16')!;

function bigIntToIpv4(v: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 0xffn)).join('.');
}

/** The /64 network of an IPv6 address, e.g. `2001:db8:1:2::` (for per-network counters). */
export function ipv6Network64(ip: string): string {
  const v = ipv6ToBigInt(ip) >> 64n;
  return `${[48n, 32n, 16n, 0n].map((s) => ((v >> s) & 0xffffn).toString(16)).join(':')}::`;
}

/** The IPv4 address an IPv6 address stands for (IPv4-mapped, NAT64 well-known prefix, 6to4), if any. */
export function embeddedIpv4(ip: string): string | undefined {
  if (isIP(ip) !== 6) {
    return undefined;
  }
  const v = ipv6ToBigInt(ip);
  if (contains(MAPPED, 6, v) || contains(NAT64, 6, v)) {
    return bigIntToIpv4(v & 0xffffffffn);
  }
  if (contains(SIX_TO_FOUR, 6, v)) {
    return bigIntToIpv4((v >> 80n) & 0xffffffffn);
  }
  return undefined;
}

/** What kind of address `ip` is (an IP literal without brackets); `reserved` for anything unparsable. */
export function classifyAddress(ip: string): AddressClass {
  const family = isIP(ip);
  if (family === 4) {
    const v = ipv4ToBigInt(ip);
    return IPV4_RANGES.find(([c]) => contains(c, 4, v))?.[1] ?? 'public';
  }
  if (family !== 6) {
    return 'reserved';
  }
  const v4 = embeddedIpv4(ip);
  if (v4 !== undefined) {
    return classifyAddress(v4);
  }
  const v = ipv6ToBigInt(ip);
  const special = IPV6_RANGES.find(([c]) => contains(c, 6, v))?.[1];
  if (special) {
    return special;
  }
  return contains(GLOBAL_UNICAST, 6, v) ? 'public' : 'reserved';
}

/**
 * Names refused whatever they resolve to here: `localhost` (RFC 6761: always loopback) and the cloud
 * metadata names, which resolve to 169.254.169.254 only inside the cloud (a check on a laptop would pass).
 */
const FORBIDDEN_NAMES: readonly [RegExp, AddressClass][] = [
  [/(^|\.)localhost\.?$/i, 'loopback'],
  [/^metadata(\.google\.internal|\.goog)?\.?$/i, 'link_local'],
  [/^instance-data(\.ec2\.internal)?\.?$/i, 'link_local'],
];

function forbiddenName(host: string): AddressClass | undefined {
  return FORBIDDEN_NAMES.find(([re]) => re.test(host))?.[1];
}

/** `[::1]` → `::1`; a URL's hostname as a connect call wants it. */
export function bareHost(hostname: string): string {
  return hostname.replace(/^\[|\]$/g, '');
}

export interface OutboundPolicyOptions {
  /** Exceptions: CIDR ranges or addresses (`127.0.0.0/8`, `::1`) and host names (`hooks.internal`). */
  allow?: readonly string[];
  resolver?: Resolver;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * The policy of one deployment. `check*` throw `OutboundAddressError` (422 when it reaches the API);
 * `lookup` is a `net.connect`-compatible lookup that refuses a host with any forbidden address and
 * hands the connection the addresses it checked, so nothing is resolved twice.
 */
export interface OutboundPolicy {
  /** Whether `ip` may be connected to (allow-list first, then the address class). */
  addressAllowed(ip: string): boolean;
  /**
   * Registration time: throws unless the URL's host is allowed (an IP literal, or a name whose every
   * address is allowed now). A name that does not resolve is refused too, with the same message, so
   * the answer cannot be used to map which internal names exist (`allowUnresolvable` lets it pass,
   * for callers whose own report names DNS failures). `path` names the field in the 400.
   */
  checkUrl(url: string, options?: { path?: string; allowUnresolvable?: boolean }): Promise<void>;
  /** Connect time, for IP-literal hosts (which never reach `lookup`). Throws for a forbidden literal. */
  assertLiteralHost(hostname: string): void;
  lookup: (hostname: string, options: LookupOptions, callback: LookupCallback) => void;
}

/**
 * One message for every refusal (loopback, private, metadata, does not resolve): saying which would
 * tell a caller what our resolver knows about internal names. The class is on the error for the log.
 */
export const REFUSED_MESSAGE =
  'the URL must name a host with public addresses only (loopback, private, link-local and metadata addresses are refused unless this deployment allows them)';

export function createOutboundPolicy(options: OutboundPolicyOptions = {}): OutboundPolicy {
  const allowCidrs: Cidr[] = [];
  const allowHosts = new Set<string>();
  for (const raw of options.allow ?? []) {
    const entry = raw.trim().toLowerCase();
    if (entry === '') {
      continue;
    }
    const cidr = parseCidr(entry);
    if (cidr) {
      allowCidrs.push(cidr);
    } else {
      allowHosts.add(bareHost(entry));
    }
  }
  const resolver = options.resolver ?? systemResolver;

  const allowListed = (ip: string): boolean => {
    const forms = [ip, embeddedIpv4(ip)].filter((f): f is string => f !== undefined);
    return forms.some((f) => {
      const family = isIP(f) as 4 | 6;
      const value = family === 4 ? ipv4ToBigInt(f) : ipv6ToBigInt(f);
      return allowCidrs.some((c) => contains(c, family, value));
    });
  };
  const addressAllowed = (ip: string) => allowListed(ip) || classifyAddress(ip) === 'public';

  /** The first forbidden address of a host, if any. */
  const refusal = (host: string, addresses: readonly string[], path?: string): OutboundAddressError | undefined => {
    if (allowHosts.has(host.toLowerCase())) {
      return undefined;
    }
    const named = forbiddenName(host);
    if (named) {
      return new OutboundAddressError(REFUSED_MESSAGE, named, path ? { path } : {});
    }
    const bad = addresses.find((a) => !addressAllowed(a));
    return bad === undefined
      ? undefined
      : new OutboundAddressError(REFUSED_MESSAGE, classifyAddress(bad), path ? { path } : {});
  };

  /** Connect time: resolver errors pass through as they are (ENOTFOUND…); forbidden addresses throw. */
  const resolveChecked = async (host: string): Promise<readonly LookupAddress[]> => {
    const addresses = await resolver(host);
    const err = refusal(
      host,
      addresses.map((a) => a.address),
    );
    if (err) {
      throw err;
    }
    return addresses;
  };

  const assertLiteralHost = (hostname: string, path?: string): void => {
    const host = bareHost(hostname);
    if (isIP(host) !== 0) {
      const err = refusal(host, [host], path);
      if (err) {
        throw err;
      }
    }
  };

  return {
    addressAllowed,
    assertLiteralHost: (hostname) => assertLiteralHost(hostname),
    async checkUrl(url, opts = {}) {
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        throw new OutboundAddressError(REFUSED_MESSAGE, 'unresolvable', opts.path ? { path: opts.path } : {});
      }
      const host = bareHost(parsed.hostname);
      if (isIP(host) !== 0) {
        assertLiteralHost(host, opts.path);
        return;
      }
      let addresses: readonly LookupAddress[];
      try {
        addresses = await resolver(host);
      } catch {
        addresses = [];
      }
      if (addresses.length === 0 && !opts.allowUnresolvable && !allowHosts.has(host.toLowerCase())) {
        throw new OutboundAddressError(REFUSED_MESSAGE, 'unresolvable', opts.path ? { path: opts.path } : {});
      }
      const err = refusal(
        host,
        addresses.map((a) => a.address),
        opts.path,
      );
      if (err) {
        throw err;
      }
    },
    lookup(hostname, lookupOptions, callback) {
      const host = bareHost(hostname);
      const family = typeof lookupOptions.family === 'number' ? lookupOptions.family : 0;
      const literal = isIP(host);
      const found: Promise<readonly LookupAddress[]> =
        literal !== 0
          ? Promise.resolve().then(() => {
              assertLiteralHost(host);
              return [{ address: host, family: literal }];
            })
          : resolveChecked(host);
      found.then(
        (addresses) => {
          const usable = addresses.filter((a) => family === 0 || a.family === family);
          const first = usable[0];
          if (!first) {
            callback(Object.assign(new Error(`${host} has no IPv${family} address`), { code: 'ENOTFOUND' }), '', 0);
          } else if (lookupOptions.all) {
            callback(
              null,
              usable.map((a) => ({ address: a.address, family: a.family })),
            );
          } else {
            callback(null, first.address, first.family);
          }
        },
        (err: unknown) => {
          if (err instanceof OutboundAddressError) {
            callback(refusedSocketError(err), '', 0);
          } else {
            callback(err as NodeJS.ErrnoException, '', 0);
          }
        },
      );
    },
  };
}

function refusedSocketError(err: unknown): NodeJS.ErrnoException {
  const refused: NodeJS.ErrnoException = new Error(err instanceof Error ? err.message : 'address not allowed', {
    cause: err,
  });
  refused.code = ADDRESS_REFUSED_CODE;
  return refused;
}

/**
 * An undici `connect` function under the policy: IP-literal hosts are checked before connecting, names
 * are resolved by `policy.lookup` (every address checked, the socket goes to a checked one: the
 * address is pinned for that connection, so a rebinding DNS answer cannot slip in between the check
 * and the connect). TLS still verifies the certificate against the host name. Use it as
 * `new Agent({ connect: guardedConnector(policy, { cert, key, timeout }) })`.
 */
export function guardedConnector(
  policy: OutboundPolicy,
  options: buildConnector.BuildOptions = {},
): buildConnector.connector {
  const connect = buildConnector({ ...options, lookup: policy.lookup });
  return (opts, callback) => {
    try {
      policy.assertLiteralHost(opts.hostname);
    } catch (err) {
      callback(refusedSocketError(err), null);
      return;
    }
    connect(opts, callback);
  };
}
