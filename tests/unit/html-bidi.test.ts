import { describe, expect, it } from 'vitest';
import { html } from '../../src/console/html.ts';
import { escapeHtml } from '../../src/shared/html.ts';

const RLO = '\u202e';
const RLE = '\u202b';
const PDF = '\u202c';
const RLI = '\u2067';
const PDI = '\u2069';

/**
 * Bank and customer text may carry bidirectional controls. Left open, a right-to-left override reverses what a page
 * shows after the value (our words, an amount, a name): every escaped value closes what it opened, and text that
 * closes its own marks is shown as sent.
 */
describe('bidirectional controls in escaped text', () => {
  it('closes an override a bank description leaves open, so the words after it read as written', () => {
    expect(escapeHtml(`WIRE ${RLO}0001 DSU`)).toBe(`WIRE ${RLO}0001 DSU${PDF}`);
    const page = html`<li>${`Fee ${RLO}refund`} by ops on 2026-12-07</li>`.text;
    expect(page).toBe(`<li>Fee ${RLO}refund${PDF} by ops on 2026-12-07</li>`);
  });

  it('closes nested embeddings and isolates innermost first', () => {
    expect(escapeHtml(`a${RLI}b${RLE}c`)).toBe(`a${RLI}b${RLE}c${PDF}${PDI}`);
    expect(escapeHtml(`a${RLE}b${RLI}c`)).toBe(`a${RLE}b${RLI}c${PDI}${PDF}`);
  });

  it('leaves balanced right-to-left text as it is, and ignores closers with nothing to close', () => {
    const hebrew = `שלום ${RLI}ACME Corp${PDI} ${RLE}בע"מ${PDF}`;
    expect(escapeHtml(hebrew)).toBe(hebrew.replace('"', '&quot;'));
    expect(escapeHtml(`${PDF}${PDI}plain`)).toBe(`${PDF}${PDI}plain`);
    // A PDI ends the embeddings opened inside its isolate too.
    expect(escapeHtml(`${RLI}${RLE}x${PDI}`)).toBe(`${RLI}${RLE}x${PDI}`);
    // A PDF does not reach out of an isolate: the embedding outside stays open until the value ends.
    expect(escapeHtml(`${RLE}a${RLI}${PDF}b`)).toBe(`${RLE}a${RLI}${PDF}b${PDI}${PDF}`);
  });

  it('escapes as before text without bidirectional controls', () => {
    expect(escapeHtml(`<b>"x"</b>`)).toBe('&lt;b&gt;&quot;x&quot;&lt;/b&gt;');
  });
});
