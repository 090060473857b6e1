const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
};

/** Explicit bidirectional embeddings and overrides (LRE, RLE, PDF, LRO, RLO) and isolates (LRI, RLI, FSI, PDI). */
const BIDI_CONTROL = /[\u202a-\u202e\u2066-\u2069]/;
const PDF = '\u202c';
const PDI = '\u2069';

/**
 * The closers a value's unclosed bidirectional embeddings, overrides and isolates need, innermost first (as the
 * Unicode bidirectional algorithm pairs them: a PDF closes the innermost embedding of the current isolate, a PDI the
 * innermost isolate and every embedding inside it, an unmatched closer nothing). Text from a bank or a customer with a
 * right-to-left override left open would otherwise reverse what the page shows after it (our own words, an amount, a
 * name): each value's direction ends where the value ends, and right-to-left text that closes its own marks is shown
 * as sent.
 */
function bidiClosers(value: string): string {
  const open: string[] = [];
  for (const c of value) {
    if (c === '\u202a' || c === '\u202b' || c === '\u202d' || c === '\u202e') {
      open.push(PDF);
    } else if (c === '\u2066' || c === '\u2067' || c === '\u2068') {
      open.push(PDI);
    } else if (c === PDF) {
      if (open.at(-1) === PDF) {
        open.pop();
      }
    } else if (c === PDI && open.includes(PDI)) {
      while (open.pop() !== PDI) {
        // Embeddings inside the isolate end with it.
      }
    }
  }
  return open.reverse().join('');
}

/**
 * The text with the bidirectional embeddings, overrides and isolates it leaves open closed at its end
 * (`bidiClosers`), for a value put into a sentence before it is escaped or sent as plain text (a mail's subject and
 * text part): escaping the whole sentence would close them only where the sentence ends.
 */
export function closeBidi(text: string): string {
  return BIDI_CONTROL.test(text) ? text + bidiClosers(text) : text;
}

/**
 * Escapes text for HTML element content and quoted attribute values alike. Every value goes through it. A value that
 * leaves a bidirectional embedding, override or isolate open is closed at its end (`bidiClosers`).
 */
export function escapeHtml(value: string | number | boolean | null | undefined): string {
  const text = String(value ?? '');
  return closeBidi(text).replace(/[&<>"'`]/g, (c) => ENTITIES[c] ?? c);
}
