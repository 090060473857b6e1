import nodemailer from 'nodemailer';
import type { Transporter } from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';

/**
 * The SMTP client (nodemailer). Plain `smtp://` connections must upgrade with STARTTLS
 * (`requireTLS`: a server that does not offer it is refused, never written to in clear);
 * `smtps://` is TLS from the first byte. Certificates are always verified; a private CA (e.g. a
 * relay inside the network, or the test server) is trusted by giving its PEM, never by turning
 * verification off.
 */
export interface MailerSettings {
  /** smtp://user:password@host:587 or smtps://…:465. Holds a password: never logged. */
  url: string;
  /** The From address, e.g. `"jpm-sync onboarding" <onboarding@example.com>`. */
  from: string;
  /** PEM of the CA that signed the SMTP server's certificate, when it is not a public one. */
  caPem?: string | undefined;
  /** Socket timeouts (default 30 s). */
  timeoutMs?: number;
}

export interface OutgoingMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
  /**
   * Stable per delivery: a retry after a lost answer carries the same Message-ID, so mail clients can fold duplicates.
   */
  messageId: string;
}

export interface Mailer {
  readonly from: string;
  /** `signal` cuts the send short (the process is stopping): it then rejects, and the message may or may not be sent. */
  send(message: OutgoingMessage, signal?: AbortSignal): Promise<{ messageId: string }>;
  close(): void;
}

export function createMailer(settings: MailerSettings): Mailer {
  const url = new URL(settings.url);
  const secure = url.protocol === 'smtps:';
  const timeout = settings.timeoutMs ?? 30_000;
  const options: SMTPTransport.Options = {
    host: url.hostname,
    port: url.port ? Number(url.port) : secure ? 465 : 587,
    secure,
    requireTLS: !secure,
    ...(url.username
      ? { auth: { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } }
      : {}),
    tls: { rejectUnauthorized: true, minVersion: 'TLSv1.2', ...(settings.caPem ? { ca: [settings.caPem] } : {}) },
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: timeout,
  };
  const transport: Transporter<SMTPTransport.SentMessageInfo> = nodemailer.createTransport(options);
  return {
    from: settings.from,
    async send(m, signal) {
      const info = await transport.sendMail({
        ...(signal ? { signal } : {}),
        from: settings.from,
        to: m.to,
        subject: m.subject,
        text: m.text,
        html: m.html,
        messageId: m.messageId,
      });
      return { messageId: info.messageId };
    },
    close() {
      transport.close();
    },
  };
}

/** The domain part of the From address, for Message-IDs. */
export function fromDomain(from: string): string {
  const m = /@([^>\s]+)>?\s*$/.exec(from);
  return m?.[1] ?? 'jpm-sync.invalid';
}
