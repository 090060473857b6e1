/**
 * Lossless JSON. J.P. Morgan sends amounts as JSON numbers (`32163647.96`); `JSON.parse` would turn
 * them into binary floats. The reviver's third argument (V8 "JSON.parse source text access") gives
 * the number's original text, which we keep as a string. The float V8 builds internally is thrown
 * away without being read, so no amount ever passes through a JS number in our code.
 */

/** The third argument V8 passes a `JSON.parse` reviver: the source text of a primitive. */
export interface ReviverContext {
  source?: string;
}

function keepNumberText(this: unknown, _key: string, value: unknown, context?: ReviverContext): unknown {
  return typeof value === 'number' && context?.source !== undefined ? context.source : value;
}

const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;
/**
 * From `lastIndex` (sticky): the run of punctuation, literals, whitespace and whole strings up to the
 * next number. Outside strings only a number has '-' or digits (true, false and null have neither), so
 * the run stops exactly where a number starts, at the end, or at a string that never closes. Both loops
 * are bounded: V8's regular-expression engine keeps a backtrack entry per repetition and throws a
 * RangeError ("Maximum call stack size exceeded") at about 3.3 million of them, which a few MB of
 * strings without numbers, or one string of escapes, reach. With at most 4096 × (256 + 1) repetitions
 * a match stays far below that; a run cut short by the bound, or a string with more than 256 escapes,
 * is taken up again after the match (`scanNumbers`).
 */
const NO_NUMBER_RUN = /(?:[^"\-0-9]+|"[^"\\]*(?:\\[^][^"\\]*){0,256}"){0,4096}/y;
/** From `lastIndex` (sticky): a number token's characters (checked against NUMBER after). */
const NUMBER_TOKEN = /-?[0-9][0-9.eE+-]*/y;
/** From `lastIndex` (sticky): white space and a ':' (after a string, it makes the string a member name). */
const COLON_AFTER = /[\t\n\r ]*:/y;

/**
 * The index of the '"' that closes a string, from `from` inside it (after its opening quote or at the
 * start of an escape), or -1 if it never closes. Native searches from quote to quote and backslash to
 * backslash (a backslash's next character is escaped), so no regular expression counts its repetitions;
 * linear in the characters passed over.
 */
function stringEnd(text: string, from: number): number {
  let quote = text.indexOf('"', from);
  let backslash = text.indexOf('\\', from);
  while (backslash !== -1 && backslash < quote) {
    const after = backslash + 2;
    if (quote < after) {
      quote = text.indexOf('"', after);
    }
    backslash = text.indexOf('\\', after);
  }
  return quote;
}

/**
 * Whether white space and a ':' come at `at`. After a value, ',', '}' and ']' (and the end) are what
 * well-formed text has; they are told apart without a regular-expression match, one per number.
 */
function colonAfter(text: string, at: number): boolean {
  const c = text.charCodeAt(at);
  if (c === 0x2c || c === 0x7d || c === 0x5d || Number.isNaN(c)) {
    return false;
  }
  COLON_AFTER.lastIndex = at;
  return COLON_AFTER.test(text);
}

/** The number tokens of a text (outside strings), in order, and where each one ends. */
interface NumberTokens {
  tokens: string[];
  ends: number[];
}

/**
 * Every number token (outside strings) of the text, in order, or undefined when the text is not plain well-formed
 * JSON as far as this scan can tell (then the caller takes the slow path). Two native regular-expression matches per
 * number (a page of 1000 bank records has ~11,000): the runs of strings and punctuation between numbers are skipped
 * inside the regex engine, not char by char. A number followed by ':' stands where a member name must be: quoted, it
 * would become a name (`{1:2}` read as `{"1":"2"}`, and a name the counts of `parseJsonLossless` do not see), so such
 * a text is refused here and JSON.parse refuses it on the slow path.
 */
function scanNumbers(text: string): NumberTokens | undefined {
  const tokens: string[] = [];
  const ends: number[] = [];
  let scan = 0;
  for (;;) {
    NO_NUMBER_RUN.lastIndex = scan;
    NO_NUMBER_RUN.test(text);
    const start = NO_NUMBER_RUN.lastIndex;
    if (start === text.length) {
      return { tokens, ends };
    }
    const c = text.charCodeAt(start);
    if (c === 0x22) {
      // A string with more escapes than the match takes (or one that never closes): skipped here.
      const end = stringEnd(text, start + 1);
      if (end === -1) {
        return undefined;
      }
      scan = end + 1;
      continue;
    }
    if (c !== 0x2d && (c < 0x30 || c > 0x39)) {
      // The run went on beyond the match's bound.
      scan = start;
      continue;
    }
    NUMBER_TOKEN.lastIndex = start;
    if (!NUMBER_TOKEN.test(text)) {
      // A '-' without digits.
      return undefined;
    }
    const end = NUMBER_TOKEN.lastIndex;
    const token = text.slice(start, end);
    if (!NUMBER.test(token) || colonAfter(text, end)) {
      return undefined;
    }
    tokens.push(token);
    ends.push(end);
    scan = end;
  }
}

/** The same text with every number token of `scanNumbers` wrapped in quotes. */
function quoteNumbers(text: string, { tokens, ends }: NumberTokens): string {
  let out = '';
  let pos = 0;
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] as string;
    const end = ends[i] as number;
    out += `${text.slice(pos, end - token.length)}"${token}"`;
    pos = end;
  }
  return out + text.slice(pos);
}

/** `withNumberText` could not put the numbers' text in (a name it does not walk, nesting too deep, a count off). */
const NOT_PUT: unique symbol = Symbol('not put');
/** A name that may be an array index (`for…in` lists those first): digits only. */
const ALL_DIGITS = /^[0-9]+$/;
/** Deeper nesting than this takes the number-quoted path (`withNumberText` walks by recursion). */
const MAX_PUT_DEPTH = 256;

/**
 * What `JSON.parse` made of a text, with each number replaced by its token, in the order of the text: the value
 * `JSON.parse` gives for the number-quoted text, without making that text. JSON.parse builds a number's double, which
 * is replaced without being read. An object's names are walked with `for…in`, which is the text's order except for
 * names that are array indices (V8 lists those first): an object with a name of digits only is not walked and the
 * text takes the number-quoted path (NOT_PUT). So does a text that nests deeper than `MAX_PUT_DEPTH`, and, as a
 * safeguard, one whose numbers do not all find a place (a name given twice drops a member's value; the counts of
 * `parseJsonLossless` refuse such a text on either path, as they look at names and lengths, the same in both values).
 * A `__proto__` name is an own data property of what JSON.parse makes, so an assignment replaces its value.
 * Only called when `Object.prototype` has no enumerable name (`objectsInheritNames`), which `for…in` would visit.
 */
function withNumberText(parsed: unknown, tokens: readonly string[]): unknown {
  if (typeof parsed === 'number') {
    return tokens.length === 1 ? tokens[0] : NOT_PUT;
  }
  let next = 0;
  const put = (v: object, depth: number): boolean => {
    if (depth > MAX_PUT_DEPTH) {
      return false;
    }
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const x: unknown = v[i];
        if (typeof x === 'number') {
          v[i] = tokens[next++];
        } else if (typeof x === 'object' && x !== null && !put(x, depth + 1)) {
          return false;
        }
      }
      return true;
    }
    const o = v as Record<string, unknown>;
    for (const name in o) {
      const c = name.charCodeAt(0);
      if (c >= 0x30 && c <= 0x39 && ALL_DIGITS.test(name)) {
        return false;
      }
      const x = o[name];
      if (typeof x === 'number') {
        o[name] = tokens[next++];
      } else if (typeof x === 'object' && x !== null && !put(x, depth + 1)) {
        return false;
      }
    }
    return true;
  };
  if (typeof parsed === 'object' && parsed !== null && !put(parsed, 0)) {
    return NOT_PUT;
  }
  return next === tokens.length ? parsed : NOT_PUT;
}

/**
 * A JSON text in which one object gives the same name twice (names compared after unescaping, so
 * `"a"` and `"\u0061"` are one name). RFC 8259 leaves the meaning open, and V8's `JSON.parse` has been
 * seen to keep the first value, and after warm-up to put a value under a name the text does not hold:
 * such a text is refused rather than read either way. A `SyntaxError`, so it is refused wherever
 * malformed JSON is.
 */
export class RepeatedNameError extends SyntaxError {
  /** The repeated name, unescaped. */
  readonly repeated: string;
  constructor(repeated: string) {
    const shown = repeated.length > 64 ? `${repeated.slice(0, 64)}…` : repeated;
    super(`the JSON text repeats the name ${JSON.stringify(shown)} in one object`);
    this.name = 'RepeatedNameError';
    this.repeated = repeated;
  }
}

/** From `lastIndex` (sticky): a number token by RFC 8259's grammar, longest match. */
const EXACT_NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const HEX4 = /^[0-9a-fA-F]{4}$/;
const SIMPLE_ESCAPES = new Map([
  ['"', '"'],
  ['\\', '\\'],
  ['/', '/'],
  ['b', '\b'],
  ['f', '\f'],
  ['n', '\n'],
  ['r', '\r'],
  ['t', '\t'],
]);
/** From `lastIndex` (sticky): characters a string holds as they are (no quote, backslash or control character). */
// eslint-disable-next-line no-control-regex -- control characters are what a JSON string may not hold raw
const PLAIN_CHARS = /[^"\\\x00-\x1f]*/y;

/** Told apart by `kind` (an own property), never by `in`, which would also see `Object.prototype`'s names. */
interface OpenArray {
  kind: 'array';
  array: unknown[];
}
interface OpenObject {
  kind: 'object';
  object: Record<string, unknown>;
  /** The name whose value is being read. */
  name: string;
}

/**
 * Our own strict RFC 8259 parser, for the texts `JSON.parse` cannot be trusted with (a name with an
 * escape) and to settle a count the fast path could not (see `parseJsonLossless`). Numbers come back
 * as their source text; `\uXXXX` escapes are decoded to UTF-16 code units, so a surrogate pair gives
 * its character and a lone surrogate the same lone code unit `JSON.parse` gives. Iterative (open
 * arrays and objects on a heap stack), so no depth of nesting overflows the call stack. Malformed text
 * throws a `SyntaxError` with its position; a well-formed text in which an object repeats a name
 * throws `RepeatedNameError` naming the first one (malformed text reports the malformation, as the
 * fast path does). Objects are made as `JSON.parse` makes them: every name an own data property
 * (`__proto__` too), whatever `Object.prototype` holds.
 */
export function parseJsonExact(text: string): unknown {
  return parseExact(text, 'text');
}

/**
 * A string of the text that held control characters (U+0000–U+001F) raw, where RFC 8259 asks for an escape: where it
 * sits (the path of names and indices to the value; for a member name, the path ends with that name) and which
 * characters, each once, in order of first appearance.
 */
export interface RawControlString {
  path: (string | number)[];
  /** Whether the string is the member name the path ends with, or the value there. */
  in: 'name' | 'value';
  characters: string[];
}

/**
 * `parseJsonExact`, numbers as their text or as the JS numbers `JSON.parse` makes of them. With `rawControls`, a
 * control character inside a string is read as itself (what its escape stands for) and the string is listed there;
 * without it such a string is malformed, as RFC 8259 has it. Outside strings nothing changes either way.
 */
function parseExact(text: string, numbers: 'text' | 'value', rawControls?: RawControlString[]): unknown {
  let pos = 0;
  let repeated: string | undefined;
  const open: (OpenArray | OpenObject)[] = [];
  /** The raw control characters of the string last read (none unless `rawControls` is given). */
  let controls: string[] = [];
  const noteControls = (frames: readonly (OpenArray | OpenObject)[], last?: string): void => {
    if (controls.length === 0 || rawControls === undefined) {
      return;
    }
    const path = frames.map((f) => (f.kind === 'array' ? f.array.length : f.name));
    rawControls.push(
      last === undefined
        ? { path, in: 'value', characters: controls }
        : { path: [...path, last], in: 'name', characters: controls },
    );
    controls = [];
  };

  const fail = (what: string): never => {
    throw new SyntaxError(`${what} in JSON at position ${pos}`);
  };
  const skipSpace = (): void => {
    for (;;) {
      const c = text.charCodeAt(pos);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) {
        return;
      }
      pos++;
    }
  };
  const readString = (): string => {
    // text[pos] is the opening quote.
    let out = '';
    let start = ++pos;
    controls = [];
    for (;;) {
      const c = text.charCodeAt(pos);
      if (c === 0x22) {
        out += text.slice(start, pos);
        pos++;
        return out;
      }
      if (c === 0x5c) {
        out += text.slice(start, pos);
        const e = text.charAt(pos + 1);
        if (e === 'u') {
          const hex = text.slice(pos + 2, pos + 6);
          if (!HEX4.test(hex)) {
            fail('Bad Unicode escape');
          }
          out += String.fromCharCode(Number.parseInt(hex, 16));
          pos += 6;
        } else {
          const simple = SIMPLE_ESCAPES.get(e);
          if (simple === undefined) {
            fail('Bad escaped character');
          }
          out += simple;
          pos += 2;
        }
        start = pos;
      } else if (Number.isNaN(c)) {
        fail('Unterminated string');
      } else if (c < 0x20) {
        if (rawControls === undefined) {
          fail('Bad control character in string literal');
        }
        const raw = text.charAt(pos);
        if (!controls.includes(raw)) {
          controls.push(raw);
        }
        pos++;
      } else {
        PLAIN_CHARS.lastIndex = pos;
        PLAIN_CHARS.test(text);
        pos = PLAIN_CHARS.lastIndex;
      }
    }
  };
  /** A member's name and its ':', into the object's frame (the first repeat remembered, reading goes on). */
  const readName = (frame: OpenObject): void => {
    if (text.charCodeAt(pos) !== 0x22) {
      fail('Expected a double-quoted property name');
    }
    const name = readString();
    noteControls(open.at(-1) === frame ? open.slice(0, -1) : open, name);
    if (repeated === undefined && Object.hasOwn(frame.object, name)) {
      repeated = name;
    }
    skipSpace();
    if (text.charCodeAt(pos) !== 0x3a) {
      fail("Expected ':' after property name");
    }
    pos++;
    frame.name = name;
  };

  for (;;) {
    // A value starts at pos (after white space).
    skipSpace();
    let value: unknown;
    const c = text.charCodeAt(pos);
    if (c === 0x7b) {
      pos++;
      skipSpace();
      if (text.charCodeAt(pos) === 0x7d) {
        pos++;
        value = {};
      } else {
        const frame: OpenObject = { kind: 'object', object: {}, name: '' };
        readName(frame);
        open.push(frame);
        continue;
      }
    } else if (c === 0x5b) {
      pos++;
      skipSpace();
      if (text.charCodeAt(pos) === 0x5d) {
        pos++;
        value = [];
      } else {
        open.push({ kind: 'array', array: [] });
        continue;
      }
    } else if (c === 0x22) {
      value = readString();
      noteControls(open);
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      EXACT_NUMBER.lastIndex = pos;
      if (!EXACT_NUMBER.test(text)) {
        fail('No number after minus sign');
      }
      const token = text.slice(pos, EXACT_NUMBER.lastIndex);
      // Number() of a JSON number token is the double JSON.parse makes of it (both round correctly).
      value = numbers === 'text' ? token : Number(token);
      pos = EXACT_NUMBER.lastIndex;
    } else if (text.startsWith('true', pos)) {
      value = true;
      pos += 4;
    } else if (text.startsWith('false', pos)) {
      value = false;
      pos += 5;
    } else if (text.startsWith('null', pos)) {
      value = null;
      pos += 4;
    } else {
      fail(Number.isNaN(c) ? 'Unexpected end of JSON input' : 'Unexpected token');
    }
    // The value is complete: into its array or object, closing every container it completes.
    for (;;) {
      const frame = open.at(-1);
      skipSpace();
      if (frame === undefined) {
        if (pos !== text.length) {
          fail('Unexpected non-whitespace character after JSON');
        }
        if (repeated !== undefined) {
          throw new RepeatedNameError(repeated);
        }
        return value;
      }
      const next = text.charCodeAt(pos);
      if (frame.kind === 'array') {
        frame.array.push(value);
        if (next === 0x2c) {
          pos++;
          break;
        }
        if (next !== 0x5d) {
          fail("Expected ',' or ']' after array element");
        }
        value = frame.array;
      } else {
        if (frame.name in Object.prototype) {
          // `__proto__`, `toString`, …: an assignment would reach the inherited property.
          Object.defineProperty(frame.object, frame.name, {
            value,
            writable: true,
            enumerable: true,
            configurable: true,
          });
        } else {
          frame.object[frame.name] = value;
        }
        if (next === 0x2c) {
          pos++;
          skipSpace();
          readName(frame);
          break;
        }
        if (next !== 0x7d) {
          fail("Expected ',' or '}' after property value");
        }
        value = frame.object;
      }
      pos++;
      open.pop();
    }
  }
}

/**
 * Whether well-formed JSON text has a member name with an escape in it (stops at the first). Searching
 * from outside any string (position 0, then the end of the previous string), a backslash occurs only
 * inside a string, and the first one met (native `indexOf`) is that string's first, so it starts an
 * escape; `stringEnd` from it finds the string's closing quote, outside any string again. A string
 * followed by ':' (white space between allowed) is a member name and any other is a value. Linear:
 * each search starts where the last string ended. On malformed text the answer can be wrong either
 * way (a string that never closes gives "no"); then JSON.parse or `parseJsonExact` refuses the text.
 */
function hasEscapedName(text: string): boolean {
  for (let at = text.indexOf('\\'); at !== -1;) {
    const end = stringEnd(text, at);
    if (end === -1) {
      return false;
    }
    if (colonAfter(text, end + 1)) {
      return true;
    }
    at = text.indexOf('\\', end + 1);
  }
  return false;
}

/** A '"' followed by ':', white space between allowed. */
const QUOTE_COLON = /"[\t\n\r ]*:/g;

/**
 * Twice the number of '"' of the text followed by ':' (white space between allowed), plus that white
 * space: at least twice the number of member names (each name's closing quote is one), more when a
 * string's content starts with a colon (`":…"`), an escaped quote is followed by one (`"\":"`) or a
 * name by white space. One native pass: what a global replace of those runs by nothing takes away.
 */
function nameMarks(text: string): number {
  return text.length - text.replace(QUOTE_COLON, '').length;
}

/**
 * Whether a plain object inherits an enumerable property (something added to `Object.prototype`). The
 * walks below go over an object's names with `for…in` (a third of the cost of `Object.keys` on a
 * bank page), which would count such a property too; then the counts are not used.
 */
function objectsInheritNames(): boolean {
  for (const _ in {}) {
    return true;
  }
  return false;
}

/** The length of a JSON value's compact text: what one atom (string, true, false, null) takes. */
function atomLength(v: unknown): number {
  return typeof v === 'string' ? v.length + 2 : v === false ? 5 : 4;
}

/**
 * The length of the JSON text a parsed value would be written as without white space, strings taken as
 * they are (no escapes): every string as its length and two quotes, every object's names the same
 * way plus a ':', a ',' between members or elements, two brackets a container. One walk with its own
 * stack. Only ever given a value whose numbers are their text (`withNumberText`, or the number-quoted text parsed).
 */
function compactLength(root: unknown): number {
  let n = 0;
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const v = stack.pop();
    if (Array.isArray(v)) {
      n += v.length === 0 ? 2 : v.length + 1;
      for (const x of v) {
        if (typeof x === 'object' && x !== null) {
          stack.push(x);
        } else {
          n += atomLength(x);
        }
      }
    } else if (typeof v === 'object' && v !== null) {
      let members = 0;
      for (const k in v) {
        members++;
        n += k.length + 3;
        const x = (v as Record<string, unknown>)[k];
        if (typeof x === 'object' && x !== null) {
          stack.push(x);
        } else {
          n += atomLength(x);
        }
      }
      n += members === 0 ? 2 : members + 1;
    } else {
      n += atomLength(v);
    }
  }
  return n;
}

/** The number of names of every object of a parsed JSON value (a walk with its own stack). */
function countNames(root: unknown): number {
  let n = 0;
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const v = stack.pop();
    if (Array.isArray(v)) {
      for (const x of v) {
        if (typeof x === 'object' && x !== null) {
          stack.push(x);
        }
      }
    } else if (typeof v === 'object' && v !== null) {
      for (const k in v) {
        n++;
        const x = (v as Record<string, unknown>)[k];
        if (typeof x === 'object' && x !== null) {
          stack.push(x);
        }
      }
    }
  }
  return n;
}

/**
 * Parses JSON text; every number comes back as its exact source text (a string). A text in which an
 * object repeats a name (compared unescaped) is refused with a `RepeatedNameError` (a `SyntaxError`),
 * never read either way.
 *
 * Fast path: a linear scan finds the number tokens, the native JSON.parse reads the text without a
 * reviver, and each number's text is put where the number stood (`withNumberText`): the same value as
 * the reviver gives (every number as its source text, everything else as JSON.parse makes it), without
 * a context object per value (a reviver call per value was a fifth of a worker's CPU in the backfill
 * benchmark). A text that walk does not take (an object with a name of digits only, deep nesting)
 * goes through JSON.parse with its number tokens quoted, as every text did before (a sixth more CPU on a
 * bank page). Text the scan does not vouch for (a malformed number, an unterminated string, a number
 * where a member name must be) takes the reviver path, so JSON.parse refuses what it would refuse.
 * Malformed JSON always throws a `SyntaxError`, the error type JSON.parse throws; its message and
 * position are JSON.parse's or `parseJsonExact`'s, depending on which one read the text.
 *
 * Two things JSON.parse is not trusted with, each sending the text to `parseJsonExact`, our own parser:
 *
 * - A name with an escape. V8 (Node 24.21) can misread one even when no name repeats: `{"aa":0,"\u00e9":1}`
 *   parsed after `{"aa":0,"\\":1}` gives the name `\` (it seems to match the escaped name's raw text
 *   against a name met before at that place), reviver or not. A text without a backslash has none
 *   (one native search); otherwise `hasEscapedName` looks at the strings that hold one, before
 *   JSON.parse sees the text. Its answer is exact for well-formed text; for malformed text either
 *   answer is safe (`parseJsonExact` refuses malformed text with a `SyntaxError`, as JSON.parse
 *   does). J.P. Morgan's names are plain ASCII; its values may hold escapes (quotes, newlines,
 *   backslashes in narratives), and those stay on the fast path.
 * - A repeated name, checked once the text has parsed. From here no name has an escape, so every key
 *   is its name's raw text, which JSON.parse reads right (assumed: the misreadings seen so far all
 *   needed an escaped name), and an object JSON.parse built has one key per distinct name of its text
 *   object, with the value of one of the members of that name. Two counts settle it without a stop
 *   per name in JS:
 *   1. `compactLength` of the tree against the length of the number-quoted text. The text is the
 *      tree's compact form plus white space W >= 0, with each dropped member of a repeated name
 *      (its name, quotes, ':', value and ',': >= 5 characters) added, and every escape longer than
 *      the character it stands for (a value may have escapes). So compactLength <= length - W - 5R,
 *      and equality forces R = 0: no repeat. The text of J.P. Morgan's API and of the simulator is
 *      compact, so this is what their pages take: one walk of the tree, no scan of the text. A text
 *      with a line feed skips it: a line feed cannot stand in a string, so it is white space, W > 0.
 *   2. Else (white space, escapes in values, a repeat): `nameMarks` of the text, twice the number of
 *      '"' followed by ':' (white space between allowed) plus that white space, against twice the
 *      number of keys in the tree. Every name's closing quote is such a '"', so with M the names of the
 *      text and K the keys, marks >= 2M >= 2K, and K < M exactly when a name repeats: equality forces
 *      no repeat. A string starting with ':' or an escaped quote before a ':' only make the marks
 *      larger: never hide a repeat.
 *   A count that does not settle it sends the text to `parseJsonExact`, which refuses the repeat or
 *   returns the value (the difference was white space, an escape or a ':' in a string).
 *
 * Cost on a page of 1000 bank records (see the README's profiling notes): compact text, a walk of the
 * tree (about a tenth of the parse); indented text, also a native regular-expression pass over the text.
 *
 * `rawControls`: a text that is malformed only because strings hold control characters (U+0000–U+001F) raw, a literal
 * TAB or line feed in a narrative as a gateway or legacy system writes it, is read with each such character as itself,
 * the value an escaped spelling gives (a NUL is U+0000, as `\u0000` is), and every such string is listed in the array
 * given (path and characters). Anything else stays malformed: a control character outside a string other than JSON's
 * white space, a text malformed in another way (its error is the one the strict read threw), a repeated name. Only a
 * text the strict read refused pays for the second read. Without `rawControls` such a text is refused.
 */
export function parseJsonLossless(text: string, rawControls?: RawControlString[]): unknown {
  if (rawControls === undefined) {
    return parseLossless(text);
  }
  try {
    return parseLossless(text);
  } catch (err) {
    // Only a text that holds a control character at all can be one with a control character inside a string (the
    // others are refused as they were, with the same error). Our own parser reads it, lenient there and nowhere else.
    // eslint-disable-next-line no-control-regex -- control characters are what is looked for
    if (err instanceof RepeatedNameError || !/[\x00-\x1f]/.test(text)) {
      throw err;
    }
    const found: RawControlString[] = [];
    let value: unknown;
    try {
      value = parseExact(text, 'text', found);
    } catch (lenient) {
      // Still malformed (a control character outside a string, or something else): the first error, unless what is
      // left is a repeated name, which is what the text then is refused for.
      throw lenient instanceof RepeatedNameError ? lenient : err;
    }
    rawControls.push(...found);
    return value;
  }
}

/** `parseJsonLossless` as RFC 8259 has it: a control character inside a string is malformed. */
function parseLossless(text: string): unknown {
  if (text.includes('\\') && hasEscapedName(text)) {
    return parseJsonExact(text);
  }
  const numbers = scanNumbers(text);
  let value: unknown = NOT_PUT;
  if (numbers !== undefined && !objectsInheritNames()) {
    try {
      value = withNumberText(JSON.parse(text), numbers.tokens);
    } catch {
      // Malformed: read below as before, which throws what it always threw.
    }
  }
  if (value === NOT_PUT) {
    value = numbers === undefined ? JSON.parse(text, keepNumberText) : JSON.parse(quoteNumbers(text, numbers));
  }
  if (objectsInheritNames()) {
    return parseJsonExact(text);
  }
  // The number-quoted text's length: the text's and two quotes a number.
  const quotedLength = numbers === undefined ? -1 : text.length + 2 * numbers.tokens.length;
  if (quotedLength >= 0 && !text.includes('\n') && compactLength(value) === quotedLength) {
    return value;
  }
  return nameMarks(text) === 2 * countNames(value) ? value : parseJsonExact(text);
}

/**
 * Parses JSON text into the values `JSON.parse` makes (numbers as JS numbers), for texts whose numbers
 * are counts and flags rather than money (our own API's request bodies). Names are read exactly, as by
 * `parseJsonLossless`: a text in which an object repeats a name (compared unescaped) is refused with a
 * `RepeatedNameError`, and a text with an escaped name is read by our own parser, never by JSON.parse
 * (whose reading of it can depend on names other texts gave earlier in the process). Otherwise the
 * native JSON.parse reads the text and the repeat check is `nameMarks` against the keys (the second
 * count of `parseJsonLossless`; the first needs numbers as text), a count that does not settle it
 * going to our parser. Malformed text throws the `SyntaxError` of whichever parser read it.
 */
export function parseJsonChecked(text: string): unknown {
  if (text.includes('\\') && hasEscapedName(text)) {
    return parseExact(text, 'value');
  }
  const value: unknown = JSON.parse(text);
  if (!objectsInheritNames() && nameMarks(text) === 2 * countNames(value)) {
    return value;
  }
  return parseExact(text, 'value');
}

declare global {
  interface JSON {
    rawJSON(text: string): unknown;
  }
}

/**
 * A JSON number kept as its exact text. `JSON.stringify` writes it unquoted (via `JSON.rawJSON`), so
 * the simulator can emit bank-style numeric amounts from exact decimal strings.
 */
export class JsonNumber {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
  toJSON(): unknown {
    return JSON.rawJSON(this.text);
  }
}
