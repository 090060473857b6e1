import type { LookupAddress } from 'node:dns';
import { describe, expect, it } from 'vitest';
import {
  classifyAddress,
  createOutboundPolicy,
  embeddedIpv4,
  OutboundAddressError,
  type Resolver,
} from '../../src/shared/outbound-policy.ts';

const resolverOf =
  (table: Record<string, string[]>): Resolver =>
  (host) => {
    const addresses = table[host];
    if (!addresses) {
      return Promise.reject(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' }));
    }
    return Promise.resolve(
      addresses.map((address): LookupAddress => ({ address, family: address.includes(':') ? 6 : 4 })),
    );
  };

describe('address classes', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link_local'],
    ['100.64.0.1', 'cgnat'],
    ['100.127.255.254', 'cgnat'],
    ['0.0.0.0', 'unspecified'],
    ['255.255.255.255', 'broadcast'],
    ['224.0.0.1', 'multicast'],
    ['239.1.2.3', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['192.0.2.10', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fc00::1', 'private'],
    ['fd12:3456::1', 'private'],
    ['fe80::1', 'link_local'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'reserved'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:a9fe:a9fe', 'link_local'],
    ['64:ff9b::7f00:1', 'loopback'],
    ['64:ff9b::a00:1', 'private'],
    ['2002:7f00:1::', 'loopback'],
    ['2002:a9fe:a9fe::1', 'link_local'],
    ['::127.0.0.1', 'reserved'],
    ['64:ff9b:1::1', 'private'],
    ['93.184.216.34', 'public'],
    ['172.32.0.1', 'public'],
    ['100.128.0.1', 'public'],
    ['2606:4700::1111', 'public'],
    ['::ffff:93.184.216.34', 'public'],
    ['64:ff9b::5db8:d822', 'public'],
  ])('%s is %s', (ip, cls) => {
    expect(classifyAddress(ip)).toBe(cls);
  });

  it('finds the IPv4 address inside mapped, NAT64 and 6to4 forms', () => {
    expect(embeddedIpv4('::ffff:7f00:1')).toBe('127.0.0.1');
    expect(embeddedIpv4('64:ff9b::a9fe:a9fe')).toBe('169.254.169.254');
    expect(embeddedIpv4('2002:0a00:0001::')).toBe('10.0.0.1');
    expect(embeddedIpv4('2606:4700::1111')).toBeUndefined();
  });
});

describe('URLs as users send them', () => {
  const policy = createOutboundPolicy({
    resolver: resolverOf({
      'example.com': ['93.184.216.34'],
      'metadata.google.internal': ['169.254.169.254'],
      'rebind.test': ['93.184.216.34', '127.0.0.1'],
    }),
  });

  it.each([
    'https://169.254.169.254/latest/meta-data/',
    'https://10.0.0.1/',
    'https://127.0.0.1:6379/',
    'https://[::1]:8443/',
    'https://2130706433:8443/',
    'https://0x7f.1:8443/',
    'https://0177.0.0.1/',
    'https://127.1/',
    'https://[::ffff:127.0.0.1]:8443/',
    'https://[::ffff:7f00:1]/',
    'https://[64:ff9b::127.0.0.1]/',
    'https://[2002:7f00:1::]/',
    'https://0.0.0.0/',
    'https://[fe80::1]/',
    'https://100.64.0.1/',
    'https://metadata.google.internal/',
    'https://rebind.test/',
    'https://localhost:6379/',
    'https://redis.localhost/',
    'https://metadata/',
    'https://metadata.goog/',
    'https://instance-data/',
  ])('refuses %s', async (url) => {
    await expect(policy.checkUrl(url, { path: 'body.url' })).rejects.toBeInstanceOf(OutboundAddressError);
  });

  it('accepts a public host; refuses a name that does not resolve with the same message as a private one (no DNS oracle)', async () => {
    await expect(policy.checkUrl('https://example.com/hooks')).resolves.toBeUndefined();
    const unresolved = await policy
      .checkUrl('https://db.corp.internal/')
      .catch((e: unknown) => e as OutboundAddressError);
    const internal = await policy
      .checkUrl('https://metadata.google.internal/')
      .catch((e: unknown) => e as OutboundAddressError);
    expect(unresolved).toBeInstanceOf(OutboundAddressError);
    expect(unresolved?.message).toBe(internal?.message);
    expect(unresolved?.message).not.toContain('db.corp.internal');
    await expect(policy.checkUrl('https://not-yet.example/', { allowUnresolvable: true })).resolves.toBeUndefined();
  });

  it('allows listed ranges and hosts only', async () => {
    const dev = createOutboundPolicy({
      allow: ['127.0.0.0/8', '::1', 'hooks.internal'],
      resolver: resolverOf({ 'hooks.internal': ['10.1.2.3'], 'other.internal': ['10.1.2.4'] }),
    });
    await expect(dev.checkUrl('https://127.0.0.1:8443')).resolves.toBeUndefined();
    await expect(dev.checkUrl('https://[::ffff:127.0.0.1]:8443')).resolves.toBeUndefined();
    await expect(dev.checkUrl('https://[::1]:8443')).resolves.toBeUndefined();
    await expect(dev.checkUrl('https://hooks.internal/')).resolves.toBeUndefined();
    await expect(dev.checkUrl('https://other.internal/')).rejects.toBeInstanceOf(OutboundAddressError);
    await expect(dev.checkUrl('https://169.254.169.254/')).rejects.toBeInstanceOf(OutboundAddressError);
  });
});

describe('connect-time lookup', () => {
  const lookup = (policy: ReturnType<typeof createOutboundPolicy>, host: string, all = false) =>
    new Promise<{ err: NodeJS.ErrnoException | null; address: unknown }>((resolve) => {
      policy.lookup(host, { all }, (err, address) => resolve({ err, address }));
    });

  it('refuses a host with any forbidden address and hands out the checked addresses otherwise', async () => {
    let answers = 0;
    // A rebinding resolver: public the first time, loopback afterwards.
    const policy = createOutboundPolicy({
      resolver: (host) =>
        Promise.resolve(
          host === 'rebind.test' ? [{ address: answers++ === 0 ? '93.184.216.34' : '127.0.0.1', family: 4 }] : [],
        ),
    });
    await expect(policy.checkUrl('https://rebind.test/')).resolves.toBeUndefined();
    const refused = await lookup(policy, 'rebind.test');
    expect(refused.err?.code).toBe('EADDRNOTALLOWED');
    const ok = createOutboundPolicy({ resolver: resolverOf({ 'example.com': ['93.184.216.34', '2606:4700::1111'] }) });
    expect((await lookup(ok, 'example.com')).address).toBe('93.184.216.34');
    expect((await lookup(ok, 'example.com', true)).address).toEqual([
      { address: '93.184.216.34', family: 4 },
      { address: '2606:4700::1111', family: 6 },
    ]);
    expect((await lookup(ok, 'nowhere.example')).err?.code).toBe('ENOTFOUND');
  });

  it('refuses forbidden IP literals at connect time', () => {
    const policy = createOutboundPolicy();
    expect(() => policy.assertLiteralHost('[::ffff:7f00:1]')).toThrow(OutboundAddressError);
    expect(() => policy.assertLiteralHost('127.0.0.1')).toThrow(OutboundAddressError);
    expect(() => policy.assertLiteralHost('93.184.216.34')).not.toThrow();
    expect(() => policy.assertLiteralHost('example.com')).not.toThrow();
  });
});
