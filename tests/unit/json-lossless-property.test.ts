import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseJsonLossless } from '../../src/shared/json.ts';

/** The definition the fast path must match: JSON.parse with a reviver keeping every number's source text. */
function reviver(text: string): unknown {
  return JSON.parse(text, (_k: string, v: unknown, ctx?: { source?: string }): unknown => (typeof v === 'number' && ctx?.source !== undefined ? ctx.source : v));
}

function outcome(f: () => unknown): { ok: true; value: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, value: f() };
  } catch (err) {
    return { ok: false, error: (err as Error).constructor.name };
  }
}

/** JSON texts with numbers in every form, strings full of quotes, backslashes, digits and minus signs, and odd spacing. */
const numberText = fc.oneof(
  fc.integer().map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => JSON.stringify(d)),
  fc.tuple(fc.bigInt({ min: 0n, max: 10n ** 20n }), fc.stringMatching(/^[0-9]{1,4}$/)).map(([i, f]) => `${i}.${f}`),
  fc.constantFrom('0', '-0', '1e2', '-1.5E-7', '3.0', '0.10', '90071992547409.93'),
);
const stringText = fc.string({ unit: fc.constantFrom('a', '"', '\\', '-', '1', ':', ',', ' ', 'é', '\u2400', '\n') }).map((s) => JSON.stringify(s));
const space = fc.constantFrom('', ' ', '\n  ');
const jsonText: fc.Arbitrary<string> = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, numberText, stringText, fc.constantFrom('true', 'false', 'null'), tie('array'), tie('object')),
  array: fc.array(fc.tuple(space, tie('value')), { maxLength: 5 }).map((xs) => `[${xs.map(([s, v]) => s + (v as string)).join(',')}]`),
  // Names unique per object (RFC 8259's SHOULD): with a name repeated, V8's own JSON.parse gives the first or last value,
  // and after warm-up has put a value under another name, so neither side of this property is defined there.
  object: fc.uniqueArray(fc.tuple(stringText, space, tie('value')), { maxLength: 5, selector: ([k]) => JSON.parse(k) as string }).map((xs) => `{${xs.map(([k, s, v]) => `${k}:${s}${v as string}`).join(',')}}`),
})).value as fc.Arbitrary<string>;

describe('parseJsonLossless (property)', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('gives exactly what the source-text reviver gives, for well-formed JSON, on the fast path (no reviver)', () => {
    fc.assert(fc.property(jsonText, (text) => {
      const expected = reviver(text);
      const parse = vi.spyOn(JSON, 'parse');
      const value = parseJsonLossless(text);
      expect(parse.mock.calls.every((args) => args.length === 1), 'took the reviver path').toBe(true);
      parse.mockRestore();
      expect(value).toEqual(expected);
    }), { numRuns: 2000 });
  });

  it('fails where JSON.parse fails and agrees where it does not, after any one-character cut or insertion', () => {
    fc.assert(fc.property(jsonText, fc.nat(), fc.constantFrom('', '"', '\\', '-', '.', 'e', '0', ']', ','), (text, at, ch) => {
      const i = at % (text.length + 1);
      const mutated = text.slice(0, i) + ch + text.slice(i + (ch === '' ? 1 : 0));
      expect(outcome(() => parseJsonLossless(mutated))).toEqual(outcome(() => reviver(mutated)));
    }), { numRuns: 3000 });
  });
});
