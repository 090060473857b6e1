/**
 * BAI2 physical records (lines, or fixed-length pieces of a blocked file) and logical records (a
 * record with the 88 records that continue it). Pure.
 */
export interface Physical {
  line: number;
  code: string;
  /** The record after `NN,`, trailing blanks removed. */
  body: string;
  /** The record filled its physical length: an 88 after it continues the same line of text. */
  full: boolean;
}

export interface Logical {
  code: string;
  line: number;
  parts: Physical[];
}

export const DEFAULT_RECORD_LENGTH = 80;

/** The fields of a record other than 16: each physical part ends at its `/`; parts join with a comma. */
export function fieldsOf(r: Logical): string[] {
  return r.parts
    .map((p) => p.body.replace(/\/.*$/, ''))
    .join(',')
    .split(',');
}
