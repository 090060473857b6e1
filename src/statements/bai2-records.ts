import { StatementFileError } from './types.ts';

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

/**
 * The file's physical records: one per line, or, in a blocked file without line ends, fixed-length
 * pieces of the length its 01 record declares (each padded with blanks).
 */
export function splitLines(text: string): string[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\n|\r/);
  const nonEmpty = lines.filter((l) => l.trim() !== '');
  const first = nonEmpty[0] ?? '';
  const length = first.startsWith('01,') ? Number(first.split(',', 8)[6]) : Number.NaN;
  if (nonEmpty.length === 1 && Number.isInteger(length) && length >= 20 && nonEmpty[0]!.length > length) {
    const blocked = nonEmpty[0]!;
    return Array.from({ length: Math.ceil(blocked.length / length) }, (_, i) => blocked.slice(i * length, (i + 1) * length));
  }
  return lines;
}

export function physicalRecords(text: string): { records: Physical[]; recordLength: number } {
  const lines = splitLines(text);
  const records: Physical[] = [];
  let recordLength = DEFAULT_RECORD_LENGTH;
  lines.forEach((raw, i) => {
    const trimmed = raw.replace(/[ \t]+$/, '');
    if (trimmed === '') {
      return;
    }
    const m = /^(\d{2}),/.exec(trimmed);
    if (!m) {
      throw new StatementFileError(`not a BAI2 record (a record starts with a two-digit record code and a comma): ${JSON.stringify(trimmed.slice(0, 20))}`, i + 1);
    }
    const code = m[1]!;
    if (code === '01') {
      const length = Number(trimmed.split(',')[6]);
      recordLength = Number.isInteger(length) && length > 0 ? length : DEFAULT_RECORD_LENGTH;
    }
    records.push({ line: i + 1, code, body: trimmed.slice(3), full: trimmed.length >= recordLength });
  });
  return { records, recordLength };
}

export function logicalRecords(physical: readonly Physical[]): Logical[] {
  const out: Logical[] = [];
  for (const p of physical) {
    if (p.code === '88') {
      const last = out.at(-1);
      if (!last) {
        throw new StatementFileError('an 88 continuation record before any record it could continue', p.line);
      }
      last.parts.push(p);
    } else {
      out.push({ code: p.code, line: p.line, parts: [p] });
    }
  }
  return out;
}

/** The fields of a record other than 16: each physical part ends at its `/`; parts join with a comma. */
export function fieldsOf(r: Logical): string[] {
  return r.parts.map((p) => p.body.replace(/\/.*$/, '')).join(',').split(',');
}
