import { describe, expect, it } from 'vitest';
import { parseJsonChecked, RepeatedNameError } from '../../src/shared/json.ts';

describe('parseJsonChecked', () => {
  it("gives JSON.parse's values, numbers as numbers, on the native path and on our parser's", () => {
    for (const text of [
      '{"a": 1.5, "b": [-0, 1e2, 3.0, true, null], "c": {"d": "x\\"y"}}',
      '[{"a":1},{"a":2}]',
      '{"a":{"a":{"a":1}}}',
      '{"__proto__": {"x": 1}}',
      '"s"',
      '12',
    ]) {
      expect(parseJsonChecked(text), text).toEqual(JSON.parse(text));
    }
    // An escaped name: our parser, the same values (numbers as numbers).
    expect(parseJsonChecked(String.raw`{"n\u0061me": 1.25, "list": [{"x\u00e9": -0.5e1}], "s": "\u00e9"}`)).toEqual({
      name: 1.25,
      list: [{ xé: -5 }],
      s: 'é',
    });
    expect(Object.is((parseJsonChecked(String.raw`{"\u0061": -0}`) as { a: number }).a, -0)).toBe(true);
  });

  it('reads an escaped name as written after a text that would make JSON.parse misread it', () => {
    parseJsonChecked(String.raw`{"aa":0,"\\":1}`);
    JSON.parse(String.raw`{"aa":0,"\\":1}`);
    expect(parseJsonChecked(String.raw`{"aa":0,"\u00e9":1}`)).toEqual({ aa: 0, é: 1 });
  });

  it('refuses a repeated name (nested, escaped-equal, after white space or a colon in a string) with RepeatedNameError', () => {
    expect(() => parseJsonChecked('{"a":1,"a":2}')).toThrow(new RepeatedNameError('a'));
    expect(() => parseJsonChecked('{"x": {"b": ":", "b": 2}}')).toThrow(new RepeatedNameError('b'));
    expect(() => parseJsonChecked(String.raw`{"a":1,"\u0061":2}`)).toThrow(new RepeatedNameError('a'));
    expect(() => parseJsonChecked('{ "a" : 1 , "a" : 2 }')).toThrow(new RepeatedNameError('a'));
  });

  it('refuses malformed text with a SyntaxError that is not a repeat', () => {
    for (const text of ['{"a":1,"a":2', String.raw`{"\u0061": 01}`, '{"a":}', '']) {
      expect(() => parseJsonChecked(text), text).toThrow(SyntaxError);
      expect(() => parseJsonChecked(text), text).not.toThrow(RepeatedNameError);
    }
  });
});
