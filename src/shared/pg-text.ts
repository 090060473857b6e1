/**
 * Postgres cannot hold some strings a bank may send: U+0000 (NUL) in `text` or `jsonb`, and a lone UTF-16
 * surrogate (half of a character, e.g. a narrative cut between the two halves of an emoji and sent as the JSON
 * escape `\ud83d`): `jsonb` refuses the whole document, and a `text` parameter reaches Postgres as U+FFFD.
 * Bank text is stored losslessly with a reversible escape that leaves every other string untouched:
 *
 *   U+0000 → "␀" (U+2400 SYMBOL FOR NULL)          "␀" → "␛␀"          "␛" (U+241B) → "␛␛"
 *   a lone surrogate U+D800–U+DFFF → "␛" and its four hex digits, upper case (lone U+D83D → "␛D83D")
 *
 * `encodePgText` runs on every string we store from the bank (text columns, and every string value and
 * object key of a jsonb document via `encodePgJson`); `decodePgText` / `decodePgJson` run on the way out,
 * so the API returns the bank's exact text. A string without NUL, "␀", "␛" or a lone surrogate (every string
 * J.P. Morgan has ever sent us) is stored byte for byte as sent, so SQL equality, indexes and psql see the real
 * text. Encoded text never holds a lone surrogate: "␛" is always followed by "␛", "␀" or a surrogate's hex digits,
 * and a surrogate pair is a whole character (left as it is), so the escape stays unambiguous.
 */
const NUL = '\u0000';
const NUL_SYMBOL = '\u2400';
const ESC = '\u241b';
// eslint-disable-next-line no-control-regex -- U+0000 is exactly what this module looks for
const HAS_ESCAPED_CHARACTER = /[\u0000\u2400\u241b]/;
const NEEDS_DECODING = /[\u2400\u241b]/;
/** "␛" and a surrogate's four hex digits, as `encodePgText` writes them. */
const SURROGATE_HEX = /^[Dd][89A-Fa-f][0-9A-Fa-f]{2}$/;

/**
 * Why text a client typed cannot be stored as sent: U+0000 (Postgres `text` holds none) or half of a character (a lone
 * UTF-16 surrogate, which the driver would turn into U+FFFD); undefined when it can. Bank text is escaped instead
 * (`encodePgText`); a client's is refused with the field named (src/http/validate.ts, the review page).
 */
export function unstorableCharacter(text: string): 'nul' | 'lone_surrogate' | undefined {
  return text.includes(NUL) ? 'nul' : text.isWellFormed() ? undefined : 'lone_surrogate';
}

/**
 * The first `max` UTF-16 units of `text`, or one fewer when the cut would fall between the two halves of a character
 * outside the BMP (an emoji): a clipped note or message never ends in half a character, which `jsonb` refuses and the
 * driver turns into U+FFFD. Text of at most `max` units is returned as it is.
 */
export function cutText(text: string, max: number): string {
  if (text.length <= max) {
    return text;
  }
  const last = text.charCodeAt(max - 1);
  return text.slice(0, last >= 0xd800 && last <= 0xdbff ? max - 1 : max);
}

function needsEncoding(text: string): boolean {
  return HAS_ESCAPED_CHARACTER.test(text) || !text.isWellFormed();
}

function needsDecoding(text: string): boolean {
  return NEEDS_DECODING.test(text);
}

export function encodePgText(text: string): string {
  if (!needsEncoding(text)) {
    return text;
  }
  let out = '';
  // By code point: a surrogate pair comes as one two-unit string, a lone surrogate as one unit.
  for (const c of text) {
    const code = c.charCodeAt(0);
    if (c.length === 1 && code >= 0xd800 && code <= 0xdfff) {
      out += ESC + code.toString(16).toUpperCase();
    } else {
      out += c === NUL ? NUL_SYMBOL : c === NUL_SYMBOL || c === ESC ? ESC + c : c;
    }
  }
  return out;
}

export function decodePgText(text: string): string {
  if (!needsDecoding(text)) {
    return text;
  }
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === ESC && i + 1 < text.length) {
      const hex = text.slice(i + 1, i + 5);
      if (SURROGATE_HEX.test(hex)) {
        out += String.fromCharCode(parseInt(hex, 16));
        i += 4;
      } else {
        out += text[i + 1] as string;
        i++;
      }
    } else {
      out += c === NUL_SYMBOL ? NUL : c;
    }
  }
  return out;
}

function mapJson(value: unknown, f: (s: string) => string, test: (s: string) => boolean): unknown {
  if (typeof value === 'string') {
    return test(value) ? f(value) : value;
  }
  if (Array.isArray(value)) {
    return value.map((v) => mapJson(v, f, test));
  }
  if (value !== null && typeof value === 'object') {
    // fromEntries defines each name as an own property: an assignment would take a "__proto__" name for the
    // prototype and drop it (and its value) from the stored record.
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [test(k) ? f(k) : k, mapJson(v, f, test)]));
  }
  return value;
}

/** True when some string or key of `value` holds a character the escape touches (cheap pre-check). */
function anyString(value: unknown, test: (s: string) => boolean): boolean {
  if (typeof value === 'string') {
    return test(value);
  }
  if (Array.isArray(value)) {
    return value.some((v) => anyString(v, test));
  }
  if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (test(k) || anyString(v, test)) {
        return true;
      }
    }
  }
  return false;
}

/** A JSON value with every string and object key encoded; the same object when nothing needs it. */
export function encodePgJson<T>(value: T): T {
  return anyString(value, needsEncoding) ? (mapJson(value, encodePgText, needsEncoding) as T) : value;
}

/** The inverse of `encodePgJson`. */
export function decodePgJson<T>(value: T): T {
  return anyString(value, needsDecoding) ? (mapJson(value, decodePgText, needsDecoding) as T) : value;
}

/**
 * Whether JSON text written by `JSON.stringify` may hold a string the escape changes: "␀" or "␛", JSON's escape of
 * U+0000 (`\u0000`) or of a lone surrogate (`\ud800`–`\udfff`; JSON.stringify writes a surrogate pair as the
 * character itself and only a lone one as an escape, in lower case). A cheap pre-check for a whole document:
 * `includes` rather than a regular expression (over a page's 2.5 MB document ten times faster); the two escapes are
 * looked for only in the rare document that has a `\u` at all; `\ud` stands for the surrogates, so a literal
 * backslash followed by "ud" only costs the exact (slower) path.
 */
export function jsonMayNeedPgEncoding(json: string): boolean {
  return (
    (json.includes('\\u') && (json.includes('\\u0000') || json.includes('\\ud'))) ||
    json.includes(NUL_SYMBOL) ||
    json.includes(ESC)
  );
}

/**
 * `JSON.stringify(value)` with every string and key encoded for Postgres: the text to send as a
 * `jsonb` parameter. JSON writes U+0000 as the escape `\u0000` and a lone surrogate as `\udXXX`, which `jsonb`
 * refuses, so the text is checked first and the value re-encoded only when it may hold NUL, "␀", "␛" or a lone
 * surrogate (almost never).
 */
export function pgJsonText(value: unknown): string {
  const json = JSON.stringify(value);
  return jsonMayNeedPgEncoding(json) ? JSON.stringify(encodePgJson(value)) : json;
}
