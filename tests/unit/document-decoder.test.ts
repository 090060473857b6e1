import { describe, expect, it } from 'vitest';
import { DocumentDecoder } from '../../src/http/body.ts';

/** The bytes decoded one piece of `size` bytes at a time. */
function decode(bytes: Buffer, size: number, named: string | null = null): string {
  const d = new DocumentDecoder(named, 'name it');
  let text = '';
  for (let at = 0; at < bytes.length; at += size) {
    text += d.write(bytes.subarray(at, at + size));
  }
  return text + d.end();
}

describe('DocumentDecoder: the charset named, else what the bytes say, and nothing read as U+FFFD', () => {
  const xml = '<?xml version="1.0" encoding="ISO-8859-1"?><a>Müller Ñ</a>';
  it.each([1, 2, 3, 7, 4096])('in pieces of %i bytes', (size) => {
    expect(decode(Buffer.from(xml, 'latin1'), size)).toBe(xml);
    expect(decode(Buffer.from(`\uFEFF${xml.replace('ISO-8859-1', 'UTF-8')}`, 'utf8'), size)).toBe(
      xml.replace('ISO-8859-1', 'UTF-8'),
    );
    expect(decode(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('<a>Ñ</a>', 'utf16le')]), size)).toBe(
      '<a>Ñ</a>',
    );
    expect(decode(Buffer.from('01,ÑA', 'utf8'), size)).toBe('01,ÑA');
    expect(decode(Buffer.from('01,ÑA', 'latin1'), size, 'iso-8859-1')).toBe('01,ÑA');
    expect(() => decode(Buffer.from('01,ÑA', 'latin1'), size)).toThrow(/not valid UTF-8/);
    // A declaration's encoding is the file's only without a named charset.
    expect(() => decode(Buffer.from(xml, 'latin1'), size, 'utf-8')).toThrow(/not valid UTF-8/);
  });

  it('short files: the start of a declaration or a mark, and nothing at all', () => {
    expect(decode(Buffer.from('<?x'), 1)).toBe('<?x');
    // Two bytes of a UTF-8 mark are no text: the file ends within a character.
    expect(() => decode(Buffer.from([0xef, 0xbb]), 1)).toThrow(/ends within a character/);
    expect(decode(Buffer.alloc(0), 1)).toBe('');
  });

  it('a charset it does not know, named or declared: 415', () => {
    expect(() => new DocumentDecoder('x-no-such', 'name it')).toThrow(/not supported/);
    expect(() => decode(Buffer.from('<?xml version="1.0" encoding="x-no-such"?><a/>'), 5)).toThrow(
      /"x-no-such" named by the file is not supported/,
    );
  });
});
