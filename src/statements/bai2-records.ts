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
  return fieldsAndEnds(r).fields;
}

/** `fieldsOf`, with the index of the last field of each physical part that an 88 continues. */
export function fieldsAndEnds(r: Logical): { fields: string[]; continuedEnds: Set<number> } {
  const fields: string[] = [];
  const continuedEnds = new Set<number>();
  r.parts.forEach((p, k) => {
    fields.push(...p.body.replace(/\/.*$/, '').split(','));
    if (k < r.parts.length - 1) {
      continuedEnds.add(fields.length - 1);
    }
  });
  return { fields, continuedEnds };
}
