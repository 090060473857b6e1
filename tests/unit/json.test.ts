import { describe, expect, it } from 'vitest';
import { JsonNumber, parseJsonLossless } from '../../src/shared/json.ts';

describe('parseJsonLossless', () => {
  it('returns every number as its exact source text', () => {
    const parsed = parseJsonLossless('{"a": 32163647.96, "b": [0.1, 3.0, 1e2], "c": "x", "d": null, "e": 90071992547409.93}');
    expect(parsed).toEqual({ a: '32163647.96', b: ['0.1', '3.0', '1e2'], c: 'x', d: null, e: '90071992547409.93' });
  });

  it('writes JsonNumber back as a bare JSON number', () => {
    expect(JSON.stringify({ amount: new JsonNumber('10.50'), n: [new JsonNumber('0')] })).toBe('{"amount":10.50,"n":[0]}');
  });
});
