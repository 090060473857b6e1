import { describe, expect, it } from 'vitest';
import { JsonNumber, parseJsonLossless, RepeatedNameError } from '../../src/shared/json.ts';

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

  it('refuses an object that repeats a name, at any depth, escaped or not, naming it', () => {
    for (const [text, name] of [
      ['{"a": 1, "a": 2}', 'a'],
      ['{"a": 1, "b": "x", "a": 1}', 'a'],
      ['{"data": [{"amount": 1.5, "id": "x", "amount": 2.5}]}', 'amount'],
      ['[{"a": 1}, {"b": {"c": null, "c": {}}}]', 'c'],
      ['{"p": {"q": [1, {"r": [], "r": []}]}}', 'r'],
      [String.raw`{"data": [], "\u0064ata": [{"id": 1}]}`, 'data'],
      [String.raw`{"a\u0062": 1, "ab": 2}`, 'ab'],
      [String.raw`{"\"": 1, "\u0022": 2}`, '"'],
      [String.raw`{"\n": 1, "\u000A": 2}`, '\n'],
      ['{"a": {"b": 1}, "c": 2, "a" : 3}', 'a'],
      [String.raw`{"x": "\"a\": {", "a": 1, "y": {"a": "}"}, "a": 3}`, 'a'],
    ] as const) {
      expect(() => parseJsonLossless(text), text).toThrow(new RepeatedNameError(name));
    }
  });

  it('a repeated name is refused as malformed JSON is: a SyntaxError, with the name in the message', () => {
    const err = (() => {
      try {
        parseJsonLossless('{"amount": 1.00, "amount": 100.00}');
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(SyntaxError);
    expect(err).toMatchObject({ name: 'RepeatedNameError', repeated: 'amount', message: 'the JSON text repeats the name "amount" in one object' });
  });

  it('accepts a name used again by a sibling object, a child or a parent, and names equal only before unescaping', () => {
    for (const [text, value] of [
      ['[{"a": 1}, {"a": 2}]', [{ a: '1' }, { a: '2' }]],
      ['{"x": {"a": 1}, "y": {"a": 2}}', { x: { a: '1' }, y: { a: '2' } }],
      ['{"a": {"a": {"a": 1}}}', { a: { a: { a: '1' } } }],
      ['{"a": {"b": 1}, "b": 2}', { a: { b: '1' }, b: '2' }],
      ['{"b": {"c": 1}, "c": {"b": 2}}', { b: { c: '1' }, c: { b: '2' } }],
      [String.raw`{"\\u0061": 1, "a": 2}`, { '\\u0061': '1', a: '2' }],
      ['{"a": "a", "b": "a", "c": ["a", "a"]}', { a: 'a', b: 'a', c: ['a', 'a'] }],
      ['{"A": 1, "a": 2, "a ": 3}', { A: '1', a: '2', 'a ': '3' }],
    ] as const) {
      expect(parseJsonLossless(text), text).toEqual(value);
    }
  });

  it('reports malformed JSON as before even when it also repeats a name', () => {
    expect(() => parseJsonLossless('{"a": 1, "a": 01}')).toThrow(SyntaxError);
    expect(() => parseJsonLossless('{"a": 1, "a": 01}')).not.toThrow(RepeatedNameError);
    expect(() => parseJsonLossless('{"a": 1, "a": 2')).not.toThrow(RepeatedNameError);
  });

  it('writes JsonNumber back as a bare JSON number', () => {
    expect(JSON.stringify({ amount: new JsonNumber('10.50'), n: [new JsonNumber('0')] })).toBe('{"amount":10.50,"n":[0]}');
  });
});
