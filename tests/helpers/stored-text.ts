/**
 * Bank text is stored losslessly although Postgres `text`/`jsonb` cannot hold U+0000 or a lone surrogate: the service
 * escapes it (src/shared/pg-text.ts) and decodes on the way out. The model reads rows straight from
 * Postgres, so it decodes them the same way before comparing with the bytes the bank sent.
 */
import { decodePgJson, decodePgText } from '../../src/shared/pg-text.ts';

export function decodeStoredText(text: string): string {
  return decodePgText(text);
}

export function decodeStoredJson(value: unknown): unknown {
  return decodePgJson(value);
}
