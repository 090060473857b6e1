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

/** Parses JSON text; every number comes back as its exact source text (a string). */
export function parseJsonLossless(text: string): unknown {
  return JSON.parse(text, keepNumberText);
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
