import { describe, expect, it } from 'vitest';
import { JsonNumber, parseJsonLossless } from '../../src/shared/json.ts';

describe('parseJsonLossless', () => {
  it('returns every number as its exact source text', () => {
    const parsed = parseJsonLossless('{"a": 32163647.96, "b": [0.1, 3.0, 1e2], "c": "x", "d": null, "e": 90071992547409.93}');
    expect(parsed).toEqual({ a: '32163647.96', b: ['0.1', '3.0', '1e2'], c: 'x', d: null, e: '90071992547409.93' });
  });

  it('gives the same value as the reviver for numbers next to strings, escapes and literals', () => {
    const reviver = (text: string): unknown => JSON.parse(text, (_k: string, v: unknown, ctx?: { source?: string }): unknown => (typeof v === 'number' && ctx?.source !== undefined ? ctx.source : v));
    for (const text of [
      '{"a":"12\\"3","b":-0.5e-7,"c":"x\\\\","d":[1,-2,3.25E+2],"e":"-1 and 2","f":true,"g":false,"h":null}',
      '  [ 0 , -0 , 1e2, "\\u0031" ]  ', '42', '"7"', '{"narrative":{"REF 1 ":"9,5"},"n":[[[1]]]}', '[]',
    ]) {
      expect(parseJsonLossless(text)).toEqual(reviver(text));
    }
  });

  it('rejects malformed JSON as JSON.parse does, numbers included', () => {
    for (const text of ['{"a": 01}', '[1.]', '[-]', '[1-2]', '{"a": 1.2.3}', '{"a": "x}', '[1 2]', '{"a": .5}', '']) {
      expect(() => parseJsonLossless(text), text).toThrow(SyntaxError);
    }
  });

  it('writes JsonNumber back as a bare JSON number', () => {
    expect(JSON.stringify({ amount: new JsonNumber('10.50'), n: [new JsonNumber('0')] })).toBe('{"amount":10.50,"n":[0]}');
  });
});
