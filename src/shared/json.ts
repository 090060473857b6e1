/**
 * Lossless JSON. J.P. Morgan sends amounts as JSON numbers (`32163647.96`); `JSON.parse` would turn
 * them into binary floats. The reviver's third argument (V8 "JSON.parse source text access") gives
 * the number's original text, which we keep as a string. The float V8 builds internally is thrown
 * away without being read, so no amount ever passes through a JS number in our code.
 */
interface ReviverContext {
  source?: string;
}

function keepNumberText(this: unknown, _key: string, value: unknown, context?: ReviverContext): unknown {
  return typeof value === 'number' && context?.source !== undefined ? context.source : value;
}

const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;
/**
 * From `lastIndex` (sticky): the run of punctuation, literals, whitespace and whole strings up to the
 * next number. Outside strings only a number has '-' or digits (true, false and null have neither), so
 * the run stops exactly where a number starts, at the end, or at a string that never closes.
 */
const NO_NUMBER_RUN = /(?:[^"\-0-9]+|"[^"\\]*(?:\\[^][^"\\]*)*")*/y;
/** From `lastIndex` (sticky): a number token's characters (checked against NUMBER after). */
const NUMBER_TOKEN = /-?[0-9][0-9.eE+-]*/y;

/**
 * The same text with every number token (outside strings) wrapped in quotes, or undefined when the
 * text is not plain well-formed JSON as far as this scan can tell (then the caller takes the slow path).
 * Two native regular-expression matches per number (a page of 1000 bank records has ~11,000): the runs
 * of strings and punctuation between numbers are skipped inside the regex engine, not char by char.
 */
function quoteNumbers(text: string): string | undefined {
  let out = '';
  let pos = 0;
  for (;;) {
    NO_NUMBER_RUN.lastIndex = pos;
    NO_NUMBER_RUN.test(text);
    const start = NO_NUMBER_RUN.lastIndex;
    if (start === text.length) {
      return out + text.slice(pos);
    }
    NUMBER_TOKEN.lastIndex = start;
    if (!NUMBER_TOKEN.test(text)) {
      // An unterminated string, or a '-' without digits.
      return undefined;
    }
    const end = NUMBER_TOKEN.lastIndex;
    const token = text.slice(start, end);
    if (!NUMBER.test(token)) {
      return undefined;
    }
    out += `${text.slice(pos, start)}"${token}"`;
    pos = end;
  }
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

/**
 * From `lastIndex` (sticky): the run up to the next '{', '}' or member name (a string followed by ':');
 * value strings are skipped whole. Only run on text JSON.parse accepted, where outside strings a '{' or
 * '}' always opens or closes an object and a string followed by ':' is always a name.
 */
const TO_BRACE_OR_NAME = /(?:[^"{}]+|"[^"\\]*(?:\\[^][^"\\]*)*"(?![\t\n\r ]*:))*/y;
/** From `lastIndex` (sticky): one whole string token. */
const STRING_TOKEN = /"[^"\\]*(?:\\[^][^"\\]*)*"/y;

/**
 * The first name an object of well-formed JSON text repeats, or undefined. One set of names per open
 * object (reused across siblings, so a page of records does not build a set per record); a name with
 * an escape is unescaped by JSON.parse before it is compared.
 */
function firstRepeatedName(text: string): string | undefined {
  const open: Set<string>[] = [];
  let depth = -1;
  let pos = 0;
  for (;;) {
    TO_BRACE_OR_NAME.lastIndex = pos;
    TO_BRACE_OR_NAME.test(text);
    pos = TO_BRACE_OR_NAME.lastIndex;
    if (pos >= text.length) {
      return undefined;
    }
    const c = text.charCodeAt(pos);
    if (c === 0x7b) {
      depth++;
      const names = open[depth];
      if (names === undefined) {
        open.push(new Set());
      } else {
        names.clear();
      }
      pos++;
    } else if (c === 0x7d) {
      depth--;
      pos++;
    } else {
      let end = text.indexOf('"', pos + 1) + 1;
      let name = text.slice(pos + 1, end - 1);
      if (name.includes('\\')) {
        STRING_TOKEN.lastIndex = pos;
        STRING_TOKEN.test(text);
        end = STRING_TOKEN.lastIndex;
        name = JSON.parse(text.slice(pos, end)) as string;
      }
      const names = open[depth]!;
      if (names.has(name)) {
        return name;
      }
      names.add(name);
      pos = end;
    }
  }
}

/**
 * Parses JSON text; every number comes back as its exact source text (a string). A text in which an
 * object repeats a name is refused with a `RepeatedNameError` (a `SyntaxError`), never read either way.
 *
 * Fast path: number tokens are quoted by a linear scan and the result goes through the native
 * JSON.parse without a reviver: the same value as the reviver gives (every number as its source
 * text, everything else as JSON.parse makes it), about three times faster on bank pages, and without
 * a context object per value (a reviver call per value was a fifth of a worker's CPU in the backfill
 * benchmark). Text the scan does not vouch for (a malformed number, an unterminated string) takes the
 * reviver path, so malformed JSON fails exactly as before. Names are checked once the text has parsed,
 * so the check's scan only ever meets well-formed JSON. Its cost is a stop per name: 87,000 on a page of
 * 1000 bank records, about 15 ms of CPU against 8.5 for the parse itself.
 *
 * Not guarded: V8 (Node 24.21) can misread an escaped name even when no name repeats. `{"aa":0,"\u00e9":1}`
 * parsed after `{"aa":0,"\\":1}` gives the name `\` (it seems to match the escaped name's raw text
 * against a name met before at that place). See the README's limits.
 */
export function parseJsonLossless(text: string): unknown {
  const quoted = quoteNumbers(text);
  const value: unknown = quoted === undefined ? JSON.parse(text, keepNumberText) : JSON.parse(quoted);
  const repeated = firstRepeatedName(text);
  if (repeated !== undefined) {
    throw new RepeatedNameError(repeated);
  }
  return value;
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
