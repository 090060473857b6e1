import { createHash } from 'node:crypto';

/**
 * Seeded pseudo-random numbers (sfc32). Every (seed, account, date) gets its own stream, derived by
 * hashing, so any business day can be generated on its own, in any order, with the same result:
 * the ledger is a pure function of the seed and never has to be held in memory.
 *
 * Floats from `unit()` only drive choices (which kind, how many); amounts are built from digits
 * (`digits`) and bigint arithmetic, never from floating point.
 */
export class Prng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(...parts: (string | number)[]) {
    const h = createHash('sha256').update(parts.join('\u0000')).digest();
    this.#a = h.readUInt32LE(0);
    this.#b = h.readUInt32LE(4);
    this.#c = h.readUInt32LE(8);
    this.#d = h.readUInt32LE(12);
    for (let i = 0; i < 12; i++) {
      this.uint32();
    }
  }

  uint32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  unit(): number {
    return this.uint32() / 4_294_967_296;
  }

  /** Uniform integer in [lo, hi], both included. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.unit() * (hi - lo + 1));
  }

  chance(probability: number): boolean {
    return this.unit() < probability;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[this.int(0, items.length - 1)];
    if (item === undefined) {
      throw new Error('pick from an empty list');
    }
    return item;
  }

  /** Picks by relative weight. */
  weighted<T extends { weight: number }>(items: readonly T[]): T {
    const total = items.reduce((sum, i) => sum + i.weight, 0);
    let r = this.unit() * total;
    for (const item of items) {
      r -= item.weight;
      if (r < 0) {
        return item;
      }
    }
    return this.pick(items);
  }

  /** `count` random decimal digits, the first one non-zero. */
  digits(count: number): string {
    let out = String(this.int(1, 9));
    for (let i = 1; i < count; i++) {
      out += String(this.int(0, 9));
    }
    return out;
  }

  /** A random positive bigint with between `minDigits` and `maxDigits` digits. */
  bigint(minDigits: number, maxDigits: number): bigint {
    return BigInt(this.digits(this.int(minDigits, maxDigits)));
  }

  /** Upper-case letters, e.g. the two-letter suffix of a J.P. Morgan bank reference. */
  letters(count: number): string {
    let out = '';
    for (let i = 0; i < count; i++) {
      out += String.fromCharCode(65 + this.int(0, 25));
    }
    return out;
  }
}
