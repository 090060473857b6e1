import { TextDecoder } from 'node:util';
import { parse as parseContentType } from 'content-type';
import express, { type Request, type RequestHandler } from 'express';
import { AppError, ValidationError } from '../shared/errors.ts';
import { parseJsonChecked, RepeatedNameError } from '../shared/json.ts';

const JSON_TYPES = ['application/json', 'application/*+json'];

/**
 * JSON bodies only, size-limited (413 beyond `limit`). A non-empty body of another media type is a
 * 415; an empty body is parsed as `{}` by the validator, so a POST with no fields still gets field
 * errors rather than a puzzling media-type error.
 *
 * body-parser reads the body (size limit, Content-Encoding, charset decoding) as `express.json` did,
 * but the text is parsed by `parseJsonChecked`, not `JSON.parse`: an object that repeats a name is a
 * 400 `repeated_name` naming it (JSON.parse kept one value silently), and a body with an escaped name
 * is read by our own parser (V8 can misread such a name after another request's body). The charset
 * check and the strict top level (an object or an array) are express.json's, with the same errors.
 */
export function jsonBody(limit: string): RequestHandler[] {
  return [
    (req, _res, next) => {
      const length = Number(req.get('content-length') ?? '0');
      const hasBody = req.get('transfer-encoding') !== undefined || length > 0;
      if (hasBody && !req.is(JSON_TYPES)) {
        throw new AppError('Send the request body as application/json.', {
          code: 'unsupported_media_type',
          httpStatus: 415,
        });
      }
      next();
    },
    (req, _res, next) => {
      // express.json's check (RFC 8259: JSON is UTF-8), made where it made it: before the body is read.
      if (announcesBody(req) && req.is(JSON_TYPES)) {
        const charset = parseContentType(req.get('content-type') ?? '').parameters.charset?.toLowerCase() || 'utf-8';
        if (!charset.startsWith('utf-')) {
          throw new AppError('The request body charset is not supported; send UTF-8 JSON.', {
            code: 'unsupported_media_type',
            httpStatus: 415,
          });
        }
      }
      next();
    },
    express.text({ limit, type: JSON_TYPES, defaultCharset: 'utf-8' }),
    (req, _res, next) => {
      if (typeof req.body === 'string') {
        req.body = parseBodyText(req.body);
      }
      next();
    },
  ];
}

/** type-is's `hasBody`, which body-parser asks: Transfer-Encoding, or any numeric Content-Length (0 too). */
function announcesBody(req: Request): boolean {
  return req.headers['transfer-encoding'] !== undefined || !Number.isNaN(Number(req.headers['content-length']));
}

/** An object or an array at the top (express.json's `strict`); an empty body is `{}`, as express.json had it. */
const STRICT_START = /^[\t\n\r ]*[{[]/;

function parseBodyText(text: string): unknown {
  if (text.length === 0) {
    return {};
  }
  const malformed = () =>
    new AppError('The request body is not valid JSON.', { code: 'malformed_json', httpStatus: 400 });
  if (!STRICT_START.test(text)) {
    throw malformed();
  }
  try {
    return parseJsonChecked(text);
  } catch (err) {
    if (err instanceof RepeatedNameError) {
      throw new AppError(`The request body is refused: ${err.message}; send each name once.`, {
        code: 'repeated_name',
        httpStatus: 400,
      });
    }
    throw malformed();
  }
}

/** A body read by the handler as it arrives (a statement file), rather than buffered before it. */
export interface StreamedBody {
  /** A body was announced (Content-Length above 0, or chunked). */
  present: boolean;
  /**
   * Hands the body over as text, piece by piece, as it arrives; for multipart/form-data, the content
   * of its one file part. Beyond the limit, or when `onText` throws (a refused file), the rest of the
   * body is read off and discarded before the error is thrown, so the client gets the answer whole.
   */
  readText(onText: (text: string) => void): Promise<void>;
}

const UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 * 1024, gb: 1024 * 1024 * 1024 };

/** '32mb' → bytes (the limits routes declare, in express's notation). */
export function limitBytes(limit: string): number {
  const m = /^(\d+)\s*(b|kb|mb|gb)?$/i.exec(limit.trim());
  if (!m) {
    throw new Error(`body limit ${JSON.stringify(limit)} is not a size such as '32mb'`);
  }
  return Number(m[1]) * UNITS[(m[2] ?? 'b').toLowerCase()]!;
}

function hasBody(req: Request): boolean {
  return req.get('transfer-encoding') !== undefined || Number(req.get('content-length') ?? '0') > 0;
}

/**
 * A document body left unread for the handler (`streamedBody(req, …)`): only its media type is checked
 * here (415 naming the accepted ones).
 */
export function streamedBodyCheck(mediaTypes: readonly string[]): RequestHandler[] {
  return [
    (req, _res, next) => {
      if (hasBody(req) && !req.is([...mediaTypes])) {
        throw new AppError(`Send the file as the request body with Content-Type ${mediaTypes.join(', ')}.`, {
          code: 'unsupported_media_type',
          httpStatus: 415,
        });
      }
      next();
    },
  ];
}

async function drain(req: Request): Promise<void> {
  if (req.readableEnded || req.destroyed) {
    return;
  }
  req.resume();
  await new Promise<void>((resolve) => {
    req.once('end', resolve);
    req.once('close', resolve);
    req.once('error', () => resolve());
  });
}

export function streamedBody(req: Request, limit: string): StreamedBody {
  const max = limitBytes(limit);
  return {
    present: hasBody(req),
    async readText(onText) {
      const tooLarge = () =>
        new AppError(
          `The file is larger than ${limit.toUpperCase()}, the most one request imports; split it by date and send the parts one by one.`,
          { code: 'payload_too_large', httpStatus: 413 },
        );
      if (Number(req.get('content-length') ?? '0') > max) {
        await drain(req);
        throw tooLarge();
      }
      const type = req.get('content-type') ?? '';
      const charset = /;\s*charset="?([^";\s]+)"?/i.exec(type)?.[1] ?? null;
      let decoder: DocumentDecoder;
      try {
        decoder = new DocumentDecoder(
          charset,
          'name its charset in the Content-Type, such as text/plain; charset=ISO-8859-1',
        );
      } catch (err) {
        await drain(req);
        throw err;
      }
      let multipart: MultipartFile | null;
      try {
        multipart = req.is('multipart/form-data') ? new MultipartFile(type) : null;
      } catch (err) {
        // No boundary: refused, but the body is read off first so the answer reaches the client.
        await drain(req);
        throw err;
      }
      const text = (bytes: Uint8Array) => {
        const t = decoder.write(bytes);
        if (t !== '') {
          onText(t);
        }
      };
      let read = 0;
      try {
        // Left early (a refusal), the request is kept, to be read off below: the socket stays usable for the answer.
        for await (const chunk of req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
          read += chunk.length;
          if (read > max) {
            throw tooLarge();
          }
          if (multipart) {
            multipart.write(chunk, text);
          } else {
            text(chunk);
          }
        }
        multipart?.end();
        const rest = decoder.end();
        if (rest !== '') {
          onText(rest);
        }
      } catch (err) {
        await drain(req);
        throw err;
      }
    },
  };
}

/** Byte order marks and the charsets they say (the decoder drops the mark). */
const BOMS: readonly (readonly number[])[] = [
  [0xef, 0xbb, 0xbf],
  [0xff, 0xfe],
  [0xfe, 0xff],
];
const BOM_CHARSETS = ['utf-8', 'utf-16le', 'utf-16be'];

/** How many bytes an XML declaration is looked for in. */
const DECLARATION_BYTES = 1024;

function unsupportedCharset(charset: string, where: string): AppError {
  return new AppError(
    `The charset ${JSON.stringify(charset)}${where} is not supported; send the file as UTF-8 (or name its charset, such as ISO-8859-1).`,
    { code: 'unsupported_media_type', httpStatus: 415 },
  );
}

/**
 * A document's bytes to text as they arrive. The charset is the one named (Content-Type, or the CLI's
 * --charset); else what the bytes say: a byte order mark (UTF-8, UTF-16), else the encoding of an XML
 * declaration (`<?xml version="1.0" encoding="ISO-8859-1"?>`), else UTF-8. Bytes that are no text in
 * that charset are refused (400 `body_encoding_invalid`), never read as U+FFFD: a reference read
 * wrong is another item's reference, and the file's text is kept with what is stored.
 */
export class DocumentDecoder {
  private decoder: TextDecoder | null = null;
  private head: Buffer = Buffer.alloc(0);
  private decoded = 0;
  private readonly fix: string;

  /** `named`: the charset the sender named, if any; `fix`: how the sender names one (said when the bytes are not in it). */
  constructor(named: string | null, fix: string) {
    this.fix = fix;
    if (named !== null) {
      this.decoder = this.open(named, '');
    }
  }

  write(bytes: Uint8Array): string {
    if (!this.decoder) {
      this.head = Buffer.concat([this.head, bytes]);
      if (!this.sniffable()) {
        return '';
      }
      this.decoder = this.open(this.sniff(), ' named by the file');
      const head = this.head;
      this.head = Buffer.alloc(0);
      return this.decode(head, true);
    }
    return this.decode(bytes, true);
  }

  end(): string {
    if (!this.decoder) {
      this.decoder = this.open(this.sniff(), ' named by the file');
      const head = this.head;
      this.head = Buffer.alloc(0);
      return this.decode(head, true) + this.decode(new Uint8Array(0), false);
    }
    return this.decode(new Uint8Array(0), false);
  }

  private open(charset: string, where: string): TextDecoder {
    try {
      return new TextDecoder(charset, { fatal: true });
    } catch {
      throw unsupportedCharset(charset, where);
    }
  }

  /** Enough of the start is here to tell its charset: a whole byte order mark, a declaration's end, or none. */
  private sniffable(): boolean {
    const h = this.head;
    if (BOMS.some((b) => h.length < b.length && h.every((x, i) => x === b[i]))) {
      return false;
    }
    const utf8Bom = BOMS[0]!.every((x, i) => h[i] === x);
    const start = h.subarray(utf8Bom ? 3 : 0, DECLARATION_BYTES).toString('latin1');
    if (start.length < 5) {
      return !'<?xml'.startsWith(start);
    }
    return !start.startsWith('<?xml') || start.includes('?>') || h.length >= DECLARATION_BYTES;
  }

  private sniff(): string {
    const h = this.head;
    const bom = BOMS.findIndex((b) => b.every((x, i) => h[i] === x));
    if (bom >= 0) {
      return BOM_CHARSETS[bom]!;
    }
    const declaration = /^<\?xml[^>]*?\sencoding\s*=\s*["']([^"'\s]+)["']/.exec(
      h.subarray(0, DECLARATION_BYTES).toString('latin1'),
    );
    return declaration?.[1] ?? 'utf-8';
  }

  private decode(bytes: Uint8Array, stream: boolean): string {
    const decoder = this.decoder!;
    try {
      const text = decoder.decode(bytes, { stream });
      this.decoded += bytes.length;
      return text;
    } catch {
      const name = decoder.encoding.toUpperCase();
      const where =
        bytes.length === 0
          ? 'it ends within a character'
          : `a byte that is no ${name} character within bytes ${this.decoded} to ${this.decoded + bytes.length}`;
      throw new ValidationError(
        `The file is not valid ${name} text (${where}): ${this.fix}, or send it as ${name}.`,
        [{ path: 'body', message: `not valid ${name}` }],
        'body_encoding_invalid',
      );
    }
  }
}

const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');
const MAX_PART_HEADERS = 16 * 1024;

/**
 * The one file part of a multipart/form-data body (RFC 7578), streamed: its content is handed on as
 * it arrives, holding back only as many bytes as could begin the next boundary. Parts without a
 * filename (form fields) are skipped; a second file part is refused.
 */
class MultipartFile {
  private readonly delimiter: Buffer;
  private buffer: Buffer = CRLF;
  private state: 'preamble' | 'after-boundary' | 'headers' | 'content' | 'done' = 'preamble';
  private inFile = false;
  private files = 0;

  constructor(contentType: string) {
    const boundary = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
    const value = boundary?.[1] ?? boundary?.[2];
    if (!value) {
      throw multipartError('the multipart/form-data Content-Type names no boundary');
    }
    // The body's first boundary has no line end before it: the buffer starts with one.
    this.delimiter = Buffer.from(`\r\n--${value}`);
  }

  write(chunk: Buffer, onData: (bytes: Uint8Array) => void): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      switch (this.state) {
        case 'preamble':
        case 'content': {
          const at = this.buffer.indexOf(this.delimiter);
          const upTo = at >= 0 ? at : Math.max(0, this.buffer.length - this.delimiter.length + 1);
          if (this.state === 'content' && this.inFile && upTo > 0) {
            onData(this.buffer.subarray(0, upTo));
          }
          if (at < 0) {
            this.buffer = this.buffer.subarray(upTo);
            return;
          }
          this.buffer = this.buffer.subarray(at + this.delimiter.length);
          this.state = 'after-boundary';
          break;
        }
        case 'after-boundary': {
          if (this.buffer.length < 2) {
            return;
          }
          const two = this.buffer.subarray(0, 2).toString('latin1');
          if (two === '--') {
            this.state = 'done';
          } else if (two === '\r\n') {
            this.buffer = this.buffer.subarray(2);
            this.state = 'headers';
          } else {
            throw multipartError('a boundary line of the multipart body is not followed by a line end');
          }
          break;
        }
        case 'headers': {
          const at = this.buffer.indexOf(HEADER_END);
          if (at < 0) {
            if (this.buffer.length > MAX_PART_HEADERS) {
              throw multipartError('a part of the multipart body has headers longer than 16 kB');
            }
            return;
          }
          const headers = this.buffer.subarray(0, at).toString('utf8');
          this.inFile = /^content-disposition:[^\r\n]*;\s*filename\*?=/im.test(headers);
          if (this.inFile && ++this.files > 1) {
            throw multipartError('the multipart body holds more than one file; send one statement file per request');
          }
          this.buffer = this.buffer.subarray(at + HEADER_END.length);
          this.state = 'content';
          break;
        }
        case 'done':
          this.buffer = Buffer.alloc(0);
          return;
      }
    }
  }

  end(): void {
    if (this.state !== 'done') {
      throw multipartError('the multipart body ends before its closing boundary: it is incomplete');
    }
    if (this.files === 0) {
      throw multipartError('the multipart body holds no file part (a part with a filename)');
    }
  }
}

function multipartError(message: string): AppError {
  return new ValidationError(`${message}.`, [{ path: 'body', message }], 'statement_multipart_invalid');
}
