/**
 * Postgres `text` and `jsonb` cannot hold U+0000 (NUL), and a bank may send it inside any string.
 * Bank text is stored losslessly with a reversible escape that leaves every other string untouched:
 *
 *   U+0000 → "␀" (U+2400 SYMBOL FOR NULL)          "␀" → "␛␀"          "␛" (U+241B) → "␛␛"
 *
 * `encodePgText` runs on every string we store from the bank (text columns, and every string value and
 * object key of a jsonb document via `encodePgJson`); `decodePgText` / `decodePgJson` run on the way out,
 * so the API returns the bank's exact text. A string without NUL, "␀" or "␛" (every string J.P. Morgan
 * has ever sent us) is stored byte for byte as sent, so SQL equality, indexes and psql see the real text.
 */
const NUL = '\u0000';
const NUL_SYMBOL = '\u2400';
const ESC = '\u241b';
// eslint-disable-next-line no-control-regex -- U+0000 is exactly what this module looks for
const NEEDS_ENCODING = /[\u0000\u2400\u241b]/;
const NEEDS_DECODING = /[\u2400\u241b]/;

export function encodePgText(text: string): string {
  if (!NEEDS_ENCODING.test(text)) {
    return text;
  }
  let out = '';
  for (const c of text) {
    out += c === NUL ? NUL_SYMBOL : c === NUL_SYMBOL || c === ESC ? ESC + c : c;
  }
  return out;
}

export function decodePgText(text: string): string {
  if (!NEEDS_DECODING.test(text)) {
    return text;
  }
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === ESC && i + 1 < text.length) {
      out += text[i + 1] as string;
      i++;
    } else {
      out += c === NUL_SYMBOL ? NUL : c;
    }
  }
  return out;
}

function mapJson(value: unknown, f: (s: string) => string, test: RegExp): unknown {
  if (typeof value === 'string') {
    return test.test(value) ? f(value) : value;
  }
  if (Array.isArray(value)) {
    return value.map((v) => mapJson(v, f, test));
  }
  if (value !== null && typeof value === 'object') {
    // fromEntries defines each name as an own property: an assignment would take a "__proto__" name for the
    // prototype and drop it (and its value) from the stored record.
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [test.test(k) ? f(k) : k, mapJson(v, f, test)]));
  }
  return value;
}

/** True when some string or key of `value` holds a character the escape touches (cheap pre-check). */
function anyString(value: unknown, test: RegExp): boolean {
  if (typeof value === 'string') {
    return test.test(value);
  }
  if (Array.isArray(value)) {
    return value.some((v) => anyString(v, test));
  }
  if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (test.test(k) || anyString(v, test)) {
        return true;
      }
    }
  }
  return false;
}

/** A JSON value with every string and object key encoded; the same object when nothing needs it. */
export function encodePgJson<T>(value: T): T {
  return anyString(value, NEEDS_ENCODING) ? (mapJson(value, encodePgText, NEEDS_ENCODING) as T) : value;
}

/** The inverse of `encodePgJson`. */
export function decodePgJson<T>(value: T): T {
  return anyString(value, NEEDS_DECODING) ? (mapJson(value, decodePgText, NEEDS_DECODING) as T) : value;
}

const MAY_NEED_ENCODING = /\\u0000|[\u2400\u241b]/;

/**
 * `JSON.stringify(value)` with every string and key encoded for Postgres: the text to send as a
 * `jsonb` parameter. JSON writes U+0000 as the escape `\u0000`, which `jsonb` refuses, so the text is
 * checked first and the value re-encoded only when it may hold NUL, "␀" or "␛" (almost never).
 */
export function pgJsonText(value: unknown): string {
  const json = JSON.stringify(value);
  return MAY_NEED_ENCODING.test(json) ? JSON.stringify(encodePgJson(value)) : json;
}
