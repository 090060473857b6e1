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
 * The same text with every number token (outside strings) wrapped in quotes, or undefined when the
 * text is not plain well-formed JSON as far as this scan can tell (then the caller takes the slow path).
 */
function quoteNumbers(text: string): string | undefined {
  const parts: string[] = [];
  const n = text.length;
  let copied = 0;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 34) {
      // A string: jump to its closing quote (one preceded by an even number of backslashes).
      for (let from = i + 1; ;) {
        const q = text.indexOf('"', from);
        if (q < 0) {
          return undefined;
        }
        let k = q - 1;
        while (text.charCodeAt(k) === 92) {
          k--;
        }
        from = q + 1;
        if ((q - 1 - k) % 2 === 0) {
          i = from;
          break;
        }
      }
      continue;
    }
    if (c === 45 || (c >= 48 && c <= 57)) {
      // Outside strings, only a number has '-' or digits (true, false and null have neither).
      let j = i + 1;
      for (; j < n; j++) {
        const d = text.charCodeAt(j);
        if (!((d >= 48 && d <= 57) || d === 46 || d === 101 || d === 69 || d === 43 || d === 45)) {
          break;
        }
      }
      const token = text.slice(i, j);
      if (!NUMBER.test(token)) {
        return undefined;
      }
      parts.push(text.slice(copied, i), '"', token, '"');
      copied = j;
      i = j;
      continue;
    }
    i++;
  }
  parts.push(text.slice(copied));
  return parts.join('');
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
