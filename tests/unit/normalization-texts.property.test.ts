import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe as suite, expect, it } from 'vitest';
import { contentHash, contentHashWithLast, fingerprint } from '../../src/normalization/identity.ts';
import { describe } from '../../src/normalization/transactions.ts';

/** The description as it was defined (and stored, and hashed) before it was written as one loop: the oracle. */
function describedAsBefore(shortDescription: unknown, narrative: unknown): string {
  const parts: string[] = [];
  const short = (typeof shortDescription === 'string' ? shortDescription : '').trim();
  if (short) {
    parts.push(short);
  }
  const tagObject = narrative !== null && typeof narrative === 'object' && !Array.isArray(narrative) ? narrative : {};
  const tags = Object.entries(tagObject)
    .map(([k, v]) => [k.trim(), typeof v === 'string' ? v.trim().replace(/\s+/g, ' ') : ''] as const)
    .filter(([k, v]) => k && v)
    .map(([k, v]) => `${k}: ${v}`);
  if (tags.length > 0) {
    parts.push(tags.join('; '));
  }
  return parts.join(' | ');
}

/** Every code unit JavaScript's \s matches, so a fast path that lists some of them is caught (\r, \u3000, \ufeff...). */
const WHITE_SPACE = [
  '\t',
  '\n',
  '\v',
  '\f',
  '\r',
  ' ',
  '\u00a0',
  '\u1680',
  '\u2000',
  '\u2001',
  '\u2002',
  '\u2003',
  '\u2004',
  '\u2005',
  '\u2006',
  '\u2007',
  '\u2008',
  '\u2009',
  '\u200a',
  '\u2028',
  '\u2029',
  '\u202f',
  '\u205f',
  '\u3000',
  '\ufeff',
];
/** Look-alikes that \s does not match (NEL, zero-width space, Mongolian vowel separator). */
const NOT_WHITE_SPACE = ['\u0085', '\u200b', '\u180e'];
const text = fc.string({
  unit: fc.constantFrom(
    'a',
    'B',
    ...WHITE_SPACE,
    ...NOT_WHITE_SPACE,
    ';',
    '|',
    ':',
    '0',
    'é',
    '😀',
    '\u0000',
    '\ud800',
    '\udc00',
  ),
});
const value = fc.oneof(text, fc.constant(null), fc.integer(), fc.boolean(), fc.constant({}), fc.constant([]));

suite('describe, the content hash and the fingerprint (property)', () => {
  it('draws every code unit of \\s and no other as white space', () => {
    const all = Array.from({ length: 0x10000 }, (_, c) => String.fromCharCode(c));
    expect(all.filter((c) => /\s/.test(c))).toEqual(WHITE_SPACE);
    expect(NOT_WHITE_SPACE.filter((c) => /\s/.test(c))).toEqual([]);
  });

  it('describes a record exactly as before: short description, then the trimmed narrative tags', () => {
    fc.assert(
      fc.property(
        fc.oneof(text, value),
        fc.oneof(fc.dictionary(text, value, { maxKeys: 6 }), value, fc.array(text)),
        (short, narrative) => {
          expect(describe(short, narrative)).toBe(describedAsBefore(short, narrative));
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('hashes a record with its raw JSON made once exactly as contentHash does', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(text, fc.constant(null))),
        fc.jsonValue(),
        fc.string({ unit: 'binary' }),
        (parts, raw, extra) => {
          const last = { raw, extra };
          // The stored definition: SHA-256 of the parts' JSON, base64url.
          const stored = createHash('sha256')
            .update(JSON.stringify([...parts, last]))
            .digest('base64url');
          expect(contentHashWithLast(parts, JSON.stringify(last))).toBe(stored);
          expect(contentHash([...parts, last])).toBe(stored);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('fingerprints as stored rows were fingerprinted: SHA-256 of the joined money facts, base64url, 22 characters', () => {
    const facts = fc.record({
      jpmAccountId: text,
      bookingDate: text,
      direction: fc.constantFrom('credit', 'debit'),
      amountMinor: fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }),
      currency: text,
      baiTypeCode: fc.option(text, { nil: null }),
      bankReference: text,
      customerReference: text,
    });
    fc.assert(
      fc.property(facts, (t) => {
        const joined = [
          t.jpmAccountId,
          t.bookingDate,
          t.direction,
          t.amountMinor.toString(),
          t.currency,
          t.baiTypeCode ?? '',
          t.bankReference.trim(),
          t.customerReference.trim(),
        ].join('\u001f');
        expect(fingerprint(t)).toBe(createHash('sha256').update(joined).digest('base64url').slice(0, 22));
      }),
      { numRuns: 2000 },
    );
  });
});
