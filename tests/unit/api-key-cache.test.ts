import { describe, expect, it } from 'vitest';
import { ApiKeyCache } from '../../src/http/api-key-cache.ts';
import type { ApiKeyStore, StoredApiKey } from '../../src/http/auth.ts';

const KEY: StoredApiKey = {
  id: 'k1',
  prefix: 'abcdefgh',
  keyHash: '00',
  name: 'reader',
  role: 'viewer',
  organizationId: null,
  revokedAt: null,
};

/** A store whose answers the test releases by hand, counting lookups. */
function heldStore() {
  const pending: ((key: StoredApiKey | undefined) => void)[] = [];
  let row: StoredApiKey | undefined = KEY;
  const store: ApiKeyStore & { lookups: number } = {
    lookups: 0,
    findByPrefix() {
      store.lookups++;
      return new Promise((resolve) => pending.push(resolve));
    },
    markUsed: () => Promise.resolve(),
  };
  return {
    store,
    set(next: StoredApiKey | undefined) {
      row = next;
    },
    release() {
      for (const resolve of pending.splice(0)) {
        resolve(row);
      }
    },
  };
}

async function lookup(cache: ApiKeyCache, held: ReturnType<typeof heldStore>): Promise<StoredApiKey | undefined> {
  const p = cache.findByPrefix(KEY.prefix);
  held.release();
  return p;
}

describe('API key cache', () => {
  it('serves a row from memory only while listening, and not after its time', async () => {
    let now = 0;
    const held = heldStore();
    const cache = new ApiKeyCache(held.store, { ttlMs: 1_000, proofMs: 60_000, now: () => now });
    await lookup(cache, held);
    await lookup(cache, held);
    expect(held.store.lookups).toBe(2);

    cache.listening(true);
    cache.alive(now);
    await lookup(cache, held);
    await lookup(cache, held);
    expect(held.store.lookups).toBe(3);
    now = 1_000;
    await lookup(cache, held);
    expect(held.store.lookups).toBe(4);

    cache.listening(false);
    expect(cache.size).toBe(0);
    await lookup(cache, held);
    await lookup(cache, held);
    expect(held.store.lookups).toBe(6);
  });

  it('does not keep a row read before an invalidation, even if the read finishes after it', async () => {
    const held = heldStore();
    const cache = new ApiKeyCache(held.store, { ttlMs: 60_000, proofMs: 60_000 });
    cache.listening(true);
    cache.alive(performance.now());
    // The read starts, the key is revoked and the notification arrives, then the (old) row comes back.
    const inFlight = cache.findByPrefix(KEY.prefix);
    cache.invalidate();
    held.release();
    expect((await inFlight)?.revokedAt).toBeNull();
    expect(cache.size).toBe(0);
    held.set({ ...KEY, revokedAt: new Date() });
    expect((await lookup(cache, held))?.revokedAt).not.toBeNull();
  });

  it('does not keep a row read while the listener was down, even if it is back when the read finishes', async () => {
    const held = heldStore();
    const cache = new ApiKeyCache(held.store, { ttlMs: 60_000, proofMs: 60_000 });
    const inFlight = cache.findByPrefix(KEY.prefix);
    cache.listening(true);
    cache.alive(performance.now());
    held.release();
    await inFlight;
    expect(cache.size).toBe(0);
  });

  it('never caches an unknown prefix, and caches nothing with a zero lifetime', async () => {
    const held = heldStore();
    held.set(undefined);
    const cache = new ApiKeyCache(held.store, { ttlMs: 60_000, proofMs: 60_000 });
    cache.listening(true);
    cache.alive(performance.now());
    await lookup(cache, held);
    expect(cache.size).toBe(0);
    const off = new ApiKeyCache(held.store, { ttlMs: 0, proofMs: 60_000 });
    off.listening(true);
    off.alive(performance.now());
    held.set(KEY);
    await lookup(off, held);
    await lookup(off, held);
    expect(off.size).toBe(0);
  });

  it('serves from memory only within proofMs of the last proof that changes arrive, counted from when the proof started', async () => {
    let now = 10_000;
    const held = heldStore();
    const cache = new ApiKeyCache(held.store, { ttlMs: 60_000, proofMs: 7_000, now: () => now });
    cache.listening(true);
    // Up but not yet proven: nothing is served from memory (nor stored).
    await lookup(cache, held);
    await lookup(cache, held);
    expect(held.store.lookups).toBe(2);
    expect(cache.size).toBe(0);

    cache.alive(now - 500);
    await lookup(cache, held);
    await lookup(cache, held);
    expect(held.store.lookups).toBe(3);
    // 6.9 s after the proof started: still served; at 7 s (no newer proof) the row is read again, not served.
    now = 10_000 - 500 + 6_999;
    await lookup(cache, held);
    expect(held.store.lookups).toBe(3);
    now = 10_000 - 500 + 7_000;
    await lookup(cache, held);
    await lookup(cache, held);
    expect(held.store.lookups).toBe(5);
    expect(cache.size).toBe(0);

    // A new proof turns it back on; an older proof arriving late does not extend it.
    cache.alive(now);
    await lookup(cache, held);
    await lookup(cache, held);
    expect(held.store.lookups).toBe(6);
    cache.alive(now - 60_000);
    now += 7_000;
    await lookup(cache, held);
    expect(held.store.lookups).toBe(7);

    // A proof while not listening counts for nothing, and going down forgets the last proof.
    cache.listening(false);
    cache.alive(now);
    cache.listening(true);
    await lookup(cache, held);
    await lookup(cache, held);
    expect(held.store.lookups).toBe(9);
  });

  it('runs on the monotonic clock by default (performance.now, not the wall clock)', async () => {
    const held = heldStore();
    const cache = new ApiKeyCache(held.store, { ttlMs: 60_000, proofMs: 60_000 });
    cache.listening(true);
    cache.alive(performance.now());
    await lookup(cache, held);
    await lookup(cache, held);
    expect(held.store.lookups).toBe(1);
    const stale = new ApiKeyCache(held.store, { ttlMs: 60_000, proofMs: 60_000 });
    stale.listening(true);
    stale.alive(performance.now() - 60_001);
    await lookup(stale, held);
    await lookup(stale, held);
    expect(held.store.lookups).toBe(3);
  });
});
