import { describe, expect, it } from 'vitest';
import {
  JsonNumber,
  parseJsonExact,
  parseJsonLossless,
  RepeatedNameError,
  type RawControlString,
} from '../../src/shared/json.ts';

/** JSON.parse keeping every number's source text: what the fast path must give. */
function reviver(text: string): unknown {
  return JSON.parse(text, (_k: string, v: unknown, ctx?: { source?: string }): unknown =>
    typeof v === 'number' && ctx?.source !== undefined ? ctx.source : v,
  );
}

describe('parseJsonLossless', () => {
  it('returns every number as its exact source text', () => {
    const parsed = parseJsonLossless(
      '{"a": 32163647.96, "b": [0.1, 3.0, 1e2], "c": "x", "d": null, "e": 90071992547409.93}',
    );
    expect(parsed).toEqual({ a: '32163647.96', b: ['0.1', '3.0', '1e2'], c: 'x', d: null, e: '90071992547409.93' });
  });

  it('gives the same value as the reviver for numbers next to strings, escapes and literals', () => {
    for (const text of [
      '{"a":"12\\"3","b":-0.5e-7,"c":"x\\\\","d":[1,-2,3.25E+2],"e":"-1 and 2","f":true,"g":false,"h":null}',
      '  [ 0 , -0 , 1e2, "\\u0031" ]  ',
      '42',
      '"7"',
      '{"narrative":{"REF 1 ":"9,5"},"n":[[[1]]]}',
      '[]',
    ]) {
      expect(parseJsonLossless(text)).toEqual(reviver(text));
    }
  });

  it("puts each number's text back where it stood, names in their order, whatever V8 lists first", () => {
    // The page is parsed as it came and each number's text put in the order of the text: names that are array
    // indices (listed first by V8), `__proto__` and deep nesting must still give each number its own text.
    const deep = (n: number) => `${'{"a":1,"b":['.repeat(n)}2${']}'.repeat(n)}`;
    for (const text of [
      '{"b":1,"2":3,"a":4,"0":[5,6],"10":{"x":7,"1":8}}',
      '[{"z":1,"1":2},{"1":3,"z":4},{"1a":5,"b":6},{"-1":7,"c":8},{"01":9,"d":10},{"4294967295":11,"e":12}]',
      '{"narrativeText":{"1ST REF     ":"A","2ND REF     ":"B"},"amount":1.50,"x":{"9":0.1,"y":0.2}}',
      '{"x":1,"__proto__":2,"y":3}',
      '{"__proto__":{"a":1},"b":2}',
      '{"amount":944.20,"immediateAvailable":0,"day1Available":-0,"n":[1e2,1.50,-3E-2]}',
      deep(10),
      deep(300),
      '-0.0',
      '1.10',
      '[1.0,[2.0,[3.0]],4.0]',
    ]) {
      const expected = reviver(text);
      const value = parseJsonLossless(text);
      expect(value, text).toEqual(expected);
      expect(JSON.stringify(value), text).toBe(JSON.stringify(expected));
    }
    // A name given twice whose dropped member held no number: every number finds a place, and the name is refused.
    expect(() => parseJsonLossless('{"a":"s","b":2,"a":5}')).toThrow(RepeatedNameError);
    expect(() => parseJsonLossless('{"a":{"c":"x"},"b":[2,3],"a":[5]}')).toThrow(RepeatedNameError);
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
    expect(err).toMatchObject({
      name: 'RepeatedNameError',
      repeated: 'amount',
      message: 'the JSON text repeats the name "amount" in one object',
    });
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

  it('reads an escaped name right where V8 misreads it (Node 24.21: "\u00e9" after a "\\" at the same place gave "\\")', () => {
    expect(parseJsonLossless(String.raw`{"aa":0,"\\":1}`)).toEqual({ aa: '0', '\\': '1' });
    expect(parseJsonLossless(String.raw`{"aa":0,"\u00e9":1}`)).toEqual({ aa: '0', é: '1' });
    expect(parseJsonLossless(String.raw`[{"aa":0,"\\":1},{"aa":0,"\u00e9":1},{"aa":0,"\\":1,"\u00e9":2}]`)).toEqual([
      { aa: '0', '\\': '1' },
      { aa: '0', é: '1' },
      { aa: '0', '\\': '1', é: '2' },
    ]);
  });

  it('accepts texts whose name count is off only because of white space or a ":" in a string', () => {
    for (const [text, value] of [
      ['{"a" : 1, "b"\n:\t"x"}', { a: '1', b: 'x' }],
      ['{"a":":","b":"\\":","c":[": ", "\\" :"]}', { a: ':', b: '":', c: [': ', '" :'] }],
      ['{"t":"10:30","u":{"v":"\\"w\\":1"}}', { t: '10:30', u: { v: '"w":1' } }],
      ['{"a":"x"}  ', { a: 'x' }],
    ] as const) {
      expect(parseJsonLossless(text), text).toEqual(value);
    }
  });

  it('refuses a repeat hidden among values that hold ":" or escaped quotes', () => {
    for (const text of [
      '{"a":"\\":","a":1}',
      '{"x":":","a":1,"a":2}',
      '{"a":1, "a":":"}',
      '{"a":1,"a" :2,"b":"\\"c\\":"}',
    ]) {
      expect(() => parseJsonLossless(text), text).toThrow(new RepeatedNameError('a'));
    }
  });

  it('refuses a number standing where a name must be, alone or offsetting a repeated name, with a SyntaxError', () => {
    for (const text of [
      '{1:2}',
      '{"amount":1.00,"amount":100.00,0:0}',
      '{"amount": 1.00, "amount": 100.00, 0 : 0}',
      '{"a":1,-2.5e1\n:3}',
      '[{"x":"y",0\t:0}]',
      '{"a":{"b":1,"b":2,3:4}}',
    ]) {
      expect(() => JSON.parse(text) as unknown, text).toThrow(SyntaxError);
      expect(() => parseJsonLossless(text), text).toThrow(SyntaxError);
      expect(() => parseJsonLossless(text), text).not.toThrow(RepeatedNameError);
    }
  });

  it("reads strings with escapes and runs without numbers of every length around the scan's bounds", () => {
    for (const n of [1, 255, 256, 257, 300, 1000]) {
      for (const escape of ['\\"', '\\\\', '\\n', '\\u0031']) {
        const text = `[{"a":"-1 ${escape.repeat(n)}0","b":-1.0},"${escape.repeat(n)}",2e1,"x${escape}"]`;
        expect(parseJsonLossless(text), `${n} ${escape}`).toEqual(reviver(text));
      }
    }
    for (const n of [2046, 2047, 2048, 2049, 4096, 4097]) {
      const text = `[${'"a",'.repeat(n)}-0.5,${'"b" ,'.repeat(n)}"\\"",1]`;
      expect(parseJsonLossless(text), String(n)).toEqual(reviver(text));
    }
    expect(() => parseJsonLossless(`["${'\\"'.repeat(300)}]`)).toThrow(SyntaxError);
  });

  it('reads texts of many MB without numbers, or with a string of millions of escapes', () => {
    // V8's regex engine gave a RangeError at about 3.36 million repetitions of one match's loop.
    const escapes = 3_400_000;
    const newlines = parseJsonLossless(`["${'\\n'.repeat(escapes)}",1.50]`) as [string, string];
    expect(newlines[0].length).toBe(escapes);
    expect(/^\n*$/.test(newlines[0])).toBe(true);
    expect(newlines[1]).toBe('1.50');
    const strings = parseJsonLossless(`[${'"a",'.repeat(1_700_000)}"b"]`) as string[];
    expect(strings.length).toBe(1_700_001);
    expect(strings.at(-1)).toBe('b');
    const objectsText = `[${'{"k":"v","w":true},'.repeat(600_000)}{"amount":0.10}]`;
    const objects = parseJsonLossless(objectsText) as Record<string, unknown>[];
    expect(objects.length).toBe(600_001);
    expect(objects[599_999]).toEqual({ k: 'v', w: true });
    expect(objects.at(-1)).toEqual({ amount: '0.10' });
    // Escapes in a value, then an escaped name: the name search passes over the value first.
    const escapedName = `{"v":"${'\\"'.repeat(escapes)}","a\\u0062":1}`;
    expect(parseJsonLossless(escapedName)).toEqual({ v: '"'.repeat(escapes), ab: '1' });
  });

  it('does not count a name Object.prototype was given', () => {
    Object.defineProperty(Object.prototype, 'polluted', {
      value: 1,
      enumerable: true,
      configurable: true,
      writable: true,
    });
    try {
      expect(() => parseJsonLossless('{"a":1,"a":2}')).toThrow(new RepeatedNameError('a'));
      expect(parseJsonLossless('{"a":1}')).toEqual({ a: '1' });
    } finally {
      delete (Object.prototype as Record<string, unknown>).polluted;
    }
  });
});

describe('parseJsonExact', () => {
  it('reads what JSON.parse reads, numbers as their text, escapes decoded (a surrogate pair as its character)', () => {
    expect(
      parseJsonExact(
        String.raw` {"a\u0062" : [1, -0.5e-7, 3.0E+2, true, false, null, {}, []], "s": "\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00\u2028", "z": "\udc00"} `,
      ),
    ).toEqual({ ab: ['1', '-0.5e-7', '3.0E+2', true, false, null, {}, []], s: '"\\/\b\f\n\r\té😀\u2028', z: '\udc00' });
    expect(parseJsonExact('"x"')).toBe('x');
    expect(parseJsonExact('-12')).toBe('-12');
    const proto = parseJsonExact('{"__proto__": {"x": 1}, "toString": 2}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(proto)).toBe(Object.prototype);
    expect(Object.keys(proto)).toEqual(['__proto__', 'toString']);
    expect(Object.getOwnPropertyDescriptor(proto, '__proto__')?.value).toEqual({ x: '1' });
  });

  it('refuses malformed JSON with a SyntaxError, a repeated name with RepeatedNameError', () => {
    for (const text of [
      '{"a": 01}',
      '[1.]',
      '[-]',
      '[1-2]',
      '{"a": .5}',
      '{"a": "x}',
      '[1 2]',
      '',
      ' ',
      '{',
      '[',
      '{"a"}',
      '{"a":}',
      '{,}',
      '[1,]',
      '{"a":1,}',
      '"\\x"',
      '"\\u12"',
      '"\\u12G4"',
      '"a\nb"',
      '"\t"',
      'tru',
      'nul',
      '1 1',
      '{"a":1}}',
      '[]]',
      '\ufeff[]',
      '{a:1}',
      "{'a':1}",
      '+1',
      'NaN',
      '"\\',
    ]) {
      expect(() => parseJsonExact(text), JSON.stringify(text)).toThrow(SyntaxError);
      expect(() => JSON.parse(text) as unknown, JSON.stringify(text)).toThrow(SyntaxError);
    }
    expect(() => parseJsonExact('{"a":1,"b":{"c":1,"\\u0063":2},"a":3}')).toThrow(new RepeatedNameError('c'));
    expect(() => parseJsonExact('{"a":1,"a":01}')).not.toThrow(RepeatedNameError);
  });

  it('tells arrays from objects whatever Object.prototype was given', () => {
    for (const enumerable of [true, false]) {
      Object.defineProperty(Object.prototype, 'array', { value: [], enumerable, configurable: true, writable: true });
      try {
        expect(parseJsonExact('{"a":1,"b":[2,{"c":[]}]}')).toEqual({ a: '1', b: ['2', { c: [] }] });
        expect(() => parseJsonExact('{"a":1]')).toThrow(SyntaxError);
        expect(() => parseJsonExact('[{"a":1]]')).toThrow(SyntaxError);
        expect(parseJsonLossless(String.raw`{"\u0061":[1]}`)).toEqual({ a: ['1'] });
      } finally {
        delete (Object.prototype as Record<string, unknown>).array;
      }
    }
  });

  it('reads nesting of any depth without overflowing the stack', () => {
    const depth = 200_000;
    let value = parseJsonExact(`${'[{"a":'.repeat(depth)}1${'}]'.repeat(depth)}`);
    for (let i = 0; i < depth; i++) {
      value = ((value as unknown[])[0] as Record<string, unknown>).a;
    }
    expect(value).toBe('1');
    expect(() => parseJsonExact(`{"x":${'['.repeat(depth)}`)).toThrow(SyntaxError);
  });
});

describe('parseJsonLossless with rawControls', () => {
  const raw = '{"data":[{"amount":10.50,"n":{"RE\tF":"a\tb\nc\r\u0000\u0001\u001f"}},{"s":"ok"}],"x":"\u0007"}';
  const escaped = String.raw`{"data":[{"amount":10.50,"n":{"RE\tF":"a\tb\nc\r\u0000\u0001\u001f"}},{"s":"ok"}],"x":"\u0007"}`;

  it('reads a control character inside a string as itself, the value the escaped spelling gives, and lists the string', () => {
    expect(() => parseJsonLossless(raw)).toThrow(SyntaxError);
    const found: RawControlString[] = [];
    expect(parseJsonLossless(raw, found)).toEqual(parseJsonLossless(escaped));
    expect(JSON.stringify(parseJsonLossless(raw, []))).toBe(JSON.stringify(parseJsonLossless(escaped)));
    expect(found).toEqual([
      { path: ['data', 0, 'n', 'RE\tF'], in: 'name', characters: ['\t'] },
      { path: ['data', 0, 'n', 'RE\tF'], in: 'value', characters: ['\t', '\n', '\r', '\u0000', '\u0001', '\u001f'] },
      { path: ['x'], in: 'value', characters: ['\u0007'] },
    ]);
    const none: RawControlString[] = [];
    expect(parseJsonLossless(escaped, none)).toEqual(parseJsonLossless(escaped));
    expect(none).toEqual([]);
  });

  it('stays strict everywhere else: a control character outside a string, other malformations, a repeated name', () => {
    for (const text of [
      '{"a":1,\u0001"b":2}',
      '[1,\u00002]',
      '{"a":"\t"\u000b}',
      '{"a":"b\t',
      '{"a":"\t",}',
      '{"a":01}',
    ]) {
      const found: RawControlString[] = [];
      expect(() => parseJsonLossless(text, found), JSON.stringify(text)).toThrow(SyntaxError);
      expect(found).toEqual([]);
    }
    expect(() => parseJsonLossless('{"a":"\t","a":"x"}', [])).toThrow(new RepeatedNameError('a'));
    expect(() => parseJsonLossless('{"\ta":1,"\ta":2}', [])).toThrow(new RepeatedNameError('\ta'));
    // JSON's white space (TAB, LF, CR) between tokens is as it always was.
    expect(parseJsonLossless('{\t"a":\r\n"\tx"}', [])).toEqual({ a: '\tx' });
  });
});

describe('JsonNumber', () => {
  it('writes JsonNumber back as a bare JSON number', () => {
    expect(JSON.stringify({ amount: new JsonNumber('10.50'), n: [new JsonNumber('0')] })).toBe(
      '{"amount":10.50,"n":[0]}',
    );
  });
});
