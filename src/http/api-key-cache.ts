import { apiKeyLookupsTotal } from '../shared/metrics.ts';
import type { ApiKeyStore, StoredApiKey } from './auth.ts';

export interface ApiKeyCacheOptions {
  /** How long a key row may be served from memory (0 = never cache). */
  ttlMs: number;
  now?: () => number;
}

/**
 * The API process's cache of key rows (src/http/auth.ts), to spare every request the key lookup's statement.
 * What is cached: the row as stored (prefix, SHA-256 hash, role, organization, revocation), by prefix; never
 * an unknown prefix. The presented key is still hashed and compared, and the revocation still checked, on
 * every request (`authenticateKey`); only the row comes from memory.
 *
 * Revocation stays immediate because the cache is only used while its owner confirms that every committed
 * change to `api_keys` reaches it (`listening(true)`: a Postgres LISTEN on `api_keys_changed`, which a
 * trigger NOTIFYs in the same transaction as the change). Each notification (`invalidate`) empties it; losing
 * the listener (`listening(false)`) empties it and turns it off until the listener is back, so in the gap every
 * request reads the database. A lookup that started before an invalidation is not stored (generation check),
 * so a row read just before a revocation committed cannot outlive the notification. `ttlMs` bounds an entry's
 * life besides, e.g. in case a listener fails without the heartbeat noticing yet.
 */
export class ApiKeyCache implements ApiKeyStore {
  readonly #store: ApiKeyStore;
  readonly #ttlMs: number;
  readonly #now: () => number;
  // Bounded by the rows of api_keys: only keys that exist are stored.
  readonly #entries = new Map<string, { key: StoredApiKey; until: number }>();
  #generation = 0;
  #listening = false;

  constructor(store: ApiKeyStore, options: ApiKeyCacheOptions) {
    this.#store = store;
    this.#ttlMs = options.ttlMs;
    this.#now = options.now ?? Date.now;
  }

  async findByPrefix(prefix: string): Promise<StoredApiKey | undefined> {
    const usable = this.#listening && this.#ttlMs > 0;
    if (usable) {
      const hit = this.#entries.get(prefix);
      if (hit !== undefined && hit.until > this.#now()) {
        apiKeyLookupsTotal.inc({ source: 'cache' });
        return hit.key;
      }
      this.#entries.delete(prefix);
    }
    apiKeyLookupsTotal.inc({ source: 'database' });
    const generation = this.#generation;
    const key = await this.#store.findByPrefix(prefix);
    if (key !== undefined && usable && this.#listening && generation === this.#generation) {
      this.#entries.set(prefix, { key: Object.freeze({ ...key }), until: this.#now() + this.#ttlMs });
    }
    return key;
  }

  markUsed(id: string): Promise<void> {
    return this.#store.markUsed(id);
  }

  /** A change to api_keys was committed (any key: the payload is not needed to be safe). */
  invalidate(): void {
    this.#generation++;
    this.#entries.clear();
  }

  /** Whether every committed change is known to reach `invalidate`; the cache is used only while true. */
  listening(up: boolean): void {
    this.#listening = up;
    this.invalidate();
  }

  get size(): number {
    return this.#entries.size;
  }
}
