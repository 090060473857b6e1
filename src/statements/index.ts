import { Bai2Stream } from './bai2.ts';
import { camtStream } from './camt.ts';
import { StatementFileError, type ParsedStatement } from './types.ts';

export { parseBai2, directionOfTypeCode } from './bai2.ts';
export { parseCamt } from './camt.ts';
export { normalizeStatementAccount } from './normalize.ts';
/** How identity compares a reference (a statement's item and a stored row alike). */
export { identityReference } from '../normalization/identity.ts';
export * from './types.ts';

/** Reads a statement file of any supported format, told apart by its first characters. */
export function parseStatement(text: string): ParsedStatement {
  const reader = new StatementReader();
  reader.write(text);
  return reader.end();
}

const UNKNOWN_FORMAT =
  'not a statement file this service reads: BAI2 (starts with an 01 record) or ISO 20022 camt.052 / camt.053 XML';

/**
 * A statement file of any supported format read as it arrives: `write` each piece of text, `end` at
 * the end of the file. The format is told by the first characters; everything after goes to that
 * format's streaming reader, so the file is never held whole. Refusals (`StatementFileError`) come
 * as soon as the wrong record is read; `end` answers the statement only when the file was complete
 * and every control total held.
 */
export class StatementReader {
  private head = '';
  private inner: { write(text: string): void; end(): ParsedStatement } | null = null;
  /** Characters other than blanks were read (an empty or blank body is no file at all). */
  hasContent = false;

  write(text: string): void {
    if (this.inner) {
      this.inner.write(text);
      return;
    }
    this.head += text;
    const start = this.head.replace(/^\uFEFF/, '').trimStart();
    if (start === '') {
      return;
    }
    this.hasContent = true;
    if (start.startsWith('<')) {
      this.inner = camtStream();
    } else if (start.startsWith('01,')) {
      this.inner = new Bai2Stream();
    } else if (start.length >= 3 || !'01,'.startsWith(start)) {
      throw new StatementFileError(UNKNOWN_FORMAT, 1, 'statement_format_unknown');
    } else {
      return;
    }
    const head = this.head;
    this.head = '';
    this.inner.write(head);
  }

  end(): ParsedStatement {
    if (!this.inner) {
      throw new StatementFileError(UNKNOWN_FORMAT, 1, 'statement_format_unknown');
    }
    return this.inner.end();
  }
}
