import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';

/**
 * A real SMTP server in the test process (the `smtp-server` package) offering STARTTLS with a
 * certificate from the simulator's dev CA; the client under test must trust that CA explicitly.
 * Every accepted message is kept with what the session looked like (TLS or not), and decoded
 * enough for assertions: headers, the text part and the HTML part.
 */
export interface ReceivedMail {
  to: string[];
  from: string;
  /** Whether the message came over TLS (after STARTTLS). */
  secure: boolean;
  raw: string;
  headers: Map<string, string>;
  subject: string;
  text: string;
  html: string;
}

export interface TestSmtp {
  port: number;
  url: string;
  received: ReceivedMail[];
  /** Make the next `n` RCPT TO commands fail, by default with a temporary error (451). */
  failNext(n: number, responseCode?: number): void;
  close(): Promise<void>;
}

function decodeQuotedPrintable(s: string): string {
  const bytes = s
    .replace(/=\r?\n/g, '')
    .replace(/=([0-9A-F]{2})/gi, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

function decodeWord(s: string): string {
  // RFC 2047 6.2: white space between adjacent encoded words (a folded header) is not part of the text.
  return s
    .replace(/(\?=)\s+(?==\?)/g, '$1')
    .replace(/=\?utf-8\?([QB])\?([^?]*)\?=/gi, (_m, enc: string, text: string) =>
      enc.toUpperCase() === 'B'
        ? Buffer.from(text, 'base64').toString('utf8')
        : decodeQuotedPrintable(text.replaceAll('_', ' ')),
    );
}

function splitHead(part: string): { headers: Map<string, string>; body: string } {
  const at = part.indexOf('\r\n\r\n');
  const head = at < 0 ? part : part.slice(0, at);
  const headers = new Map<string, string>();
  for (const line of head.replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0) {
      headers.set(line.slice(0, i).toLowerCase(), line.slice(i + 1).trim());
    }
  }
  return { headers, body: at < 0 ? '' : part.slice(at + 4) };
}

function decodeBody(headers: Map<string, string>, body: string): string {
  const enc = (headers.get('content-transfer-encoding') ?? '').toLowerCase();
  if (enc === 'quoted-printable') {
    return decodeQuotedPrintable(body);
  }
  if (enc === 'base64') {
    return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  }
  return body;
}

export function parseMail(raw: string): Pick<ReceivedMail, 'headers' | 'subject' | 'text' | 'html'> {
  const { headers, body } = splitHead(raw);
  const type = headers.get('content-type') ?? 'text/plain';
  let text = '';
  let html = '';
  const boundary = /boundary="?([^";]+)"?/.exec(type)?.[1];
  if (boundary) {
    for (const part of body.split(`--${boundary}`).slice(1)) {
      const p = splitHead(part.replace(/^\r\n/, ''));
      const t = p.headers.get('content-type') ?? '';
      if (t.startsWith('text/plain')) {
        text = decodeBody(p.headers, p.body).trimEnd();
      } else if (t.startsWith('text/html')) {
        html = decodeBody(p.headers, p.body).trimEnd();
      }
    }
  } else if (type.startsWith('text/html')) {
    html = decodeBody(headers, body);
  } else {
    text = decodeBody(headers, body);
  }
  return { headers, subject: decodeWord(headers.get('subject') ?? ''), text, html };
}

export async function startTestSmtp(
  tls: { keyPem: string; certPem: string },
  options: Partial<SMTPServerOptions> = {},
): Promise<TestSmtp> {
  const received: ReceivedMail[] = [];
  let failures = 0;
  let failCode = 451;
  const server = new SMTPServer({
    secure: false,
    key: tls.keyPem,
    cert: tls.certPem,
    authOptional: true,
    disabledCommands: ['AUTH'],
    logger: false,
    onRcptTo(_address, _session, callback) {
      if (failures > 0) {
        failures--;
        const err = Object.assign(new Error(failCode >= 500 ? 'mailbox unavailable' : 'try again later'), {
          responseCode: failCode,
        });
        callback(err);
        return;
      }
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        received.push({
          to: session.envelope.rcptTo.map((r) => r.address),
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          secure: session.secure,
          raw,
          ...parseMail(raw),
        });
        callback();
      });
    },
    ...options,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    url: `smtp://127.0.0.1:${port}`,
    received,
    failNext(n, responseCode = 451) {
      failures = n;
      failCode = responseCode;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
