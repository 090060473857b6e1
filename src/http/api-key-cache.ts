import { apiKeyLookupsTotal } from '../shared/metrics.ts';
import type { ApiKeyStore, StoredApiKey } from './auth.ts';

export interface ApiKeyCacheOptions {
  /** How long a key row may be served from memory (0 = never cache). */
  ttlMs: number;
  /**
   * How long a proof that changes reach `invalidate` (`alive(provenAt)`) counts: past it, nothing is served
   * from memory until the next proof. Set it to the listener's heartbeat interval plus its timeout.
   */
  proofMs: number;
  /** A monotonic clock in milliseconds (default performance.now), the clock of `alive`'s argument too. */
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
 * trigger NOTIFYs in the same transaction as the change), and only within `proofMs` of the last proof of that
 * (`alive`: a probe notification sent through the pool, the path a revocation takes, was heard by the
 * listener). Each notification (`invalidate`) empties it; losing the listener (`listening(false)`) empties it
 * and turns it off until the listener is back, so in the gap every request reads the database; so does a proof
 * that is overdue. A lookup that started before an invalidation is not stored (generation check), so a row read
 * just before a revocation committed cannot outlive the notification. `ttlMs` bounds an entry's life besides.
 */
export class ApiKeyCache implements ApiKeyStore {
  readonly #store: ApiKeyStore;
  readonly #ttlMs: number;
  readonly #proofMs: number;
  readonly #now: () => number;
  // Bounded by the rows of api_keys: only keys that exist are stored.
  readonly #entries = new Map<string, { key: StoredApiKey; until: number }>();
  #generation = 0;
  #listening = false;
  #provenAt = -Infinity;

  constructor(store: ApiKeyStore, options: ApiKeyCacheOptions) {
    this.#store = store;
    this.#ttlMs = options.ttlMs;
    this.#proofMs = options.proofMs;
    this.#now = options.now ?? (() => performance.now());
  }

  async findByPrefix(prefix: string): Promise<StoredApiKey | undefined> {
    const usable = this.#usable();
    if (usable) {
      const hit = this.#entries.get(prefix);
      if (hit !== undefined && hit.until > this.#now()) {
        apiKeyLookupsTotal.inc({ source: 'cache' });
        return hit.key;
      }
      this.#entries.delete(prefix);
    } else if (this.#entries.size > 0) {
      // Overdue proof: what was held is not trusted again when the next proof comes.
      this.#entries.clear();
    }
    apiKeyLookupsTotal.inc({ source: 'database' });
    const generation = this.#generation;
    const key = await this.#store.findByPrefix(prefix);
    if (key !== undefined && usable && this.#usable() && generation === this.#generation) {
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
    this.#provenAt = -Infinity;
    this.invalidate();
  }

  /** Every change committed before `provenAt` (on the `now` clock) has reached `invalidate`. */
  alive(provenAt: number): void {
    if (this.#listening) {
      this.#provenAt = Math.max(this.#provenAt, provenAt);
    }
  }

  #usable(): boolean {
    return this.#listening && this.#ttlMs > 0 && this.#now() - this.#provenAt < this.#proofMs;
  }

  get size(): number {
    return this.#entries.size;
  }
}
