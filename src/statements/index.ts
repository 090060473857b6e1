import { parseBai2 } from './bai2.ts';
import { parseCamt } from './camt.ts';
import { StatementFileError, type ParsedStatement } from './types.ts';

export { parseBai2, directionOfTypeCode } from './bai2.ts';
export { parseCamt } from './camt.ts';
export { impliedDecimals } from './currencies.ts';
export { normalizeStatementAccount, sourceOf, type StatementBatch } from './normalize.ts';
export * from './types.ts';

/** Reads a statement file of any supported format, told apart by its first characters. */
export function parseStatement(text: string): ParsedStatement {
  const head = text.replace(/^\uFEFF/, '').trimStart();
  if (head.startsWith('01,')) {
    return parseBai2(text);
  }
  if (head.startsWith('<')) {
    return parseCamt(text);
  }
  throw new StatementFileError('not a statement file this service reads: BAI2 (starts with an 01 record) or ISO 20022 camt.052 / camt.053 XML', 1, 'statement_format_unknown');
}
