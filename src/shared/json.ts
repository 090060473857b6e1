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
 * Parses JSON text; every number comes back as its exact source text (a string).
 *
 * Fast path: number tokens are quoted by a linear scan and the result goes through the native
 * JSON.parse without a reviver: the same value as the reviver gives (every number as its source
 * text, everything else as JSON.parse makes it), about three times faster on bank pages, and without
 * a context object per value (a reviver call per value was a fifth of a worker's CPU in the backfill
 * benchmark). Text the scan does not vouch for (a malformed number, an unterminated string) takes the
 * reviver path, so malformed JSON fails exactly as before.
 */
export function parseJsonLossless(text: string): unknown {
  const quoted = quoteNumbers(text);
  return quoted === undefined ? JSON.parse(text, keepNumberText) : JSON.parse(quoted);
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
