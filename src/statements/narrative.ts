/**
 * Narrative text lines (BAI2 record 16 text continued in 88 records; camt remittance lines) to the
 * short description and J.P. Morgan-style tags (`YOUR REF: …`, `B/O CUSTOMER: …`), the same tags its
 * API sends as `narrativeText`. A line that continues a wrapped one (it filled its physical record)
 * is joined without a break, unless it starts a tag; a line that starts no tag continues the previous
 * tag's value. The one ambiguity of the format: a wrapped value whose continuation happens to read
 * `WORD: …` is taken as a new tag.
 */
export interface TextLine {
  text: string;
  /** The line continues the previous one with no break (the previous filled its physical record). */
  joined: boolean;
}

const TAG = /^([A-Z][A-Z0-9 /&.'-]{0,23}?)\s*:\s?(.*)$/;

export function readNarrative(lines: readonly TextLine[]): { text: string; narrative: Record<string, string> | null } {
  const merged: string[] = [];
  for (const l of lines) {
    // A record that filled its physical length by chance is followed by a new tag, not by the rest of its line.
    if (l.joined && merged.length > 0 && !TAG.test(l.text)) {
      merged[merged.length - 1] += l.text;
    } else {
      merged.push(l.text);
    }
  }
  let text = '';
  const tags: [string, string][] = [];
  merged.forEach((line, i) => {
    const m = i === 0 ? null : TAG.exec(line);
    if (m) {
      tags.push([m[1]!.trim(), m[2] ?? '']);
      return;
    }
    const last = tags.at(-1);
    if (i === 0 || !last) {
      text = text === '' ? line : `${text} ${line}`;
    } else {
      last[1] = `${last[1]} ${line}`;
    }
  });
  if (tags.length === 0) {
    return { text, narrative: null };
  }
  const narrative: Record<string, string> = {};
  for (const [k, v] of tags) {
    // A tag written twice keeps both values (J.P. Morgan repeats e.g. "OBI" for long remittance text).
    narrative[k] = narrative[k] === undefined ? v : `${narrative[k]} ${v}`;
  }
  return { text, narrative };
}
