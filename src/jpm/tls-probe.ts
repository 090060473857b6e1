import { isIP } from 'node:net';
import { connect, type TLSSocket } from 'node:tls';
import { ADDRESS_REFUSED_CODE, type OutboundPolicy } from '../shared/outbound-policy.ts';
import type { TlsCredential } from './credential-agents.ts';

/**
 * A bare TLS handshake with our client certificate, no HTTP. Two uses:
 *  - `testConnection()` reports whether the handshake works and what the server presented;
 *  - the client calls it when the bank closed a *fresh* connection without sending one response
 *    byte. Over TLS 1.3 a server checks the client certificate after the client already considers the
 *    handshake done, and a Node-style server (like our simulator, or a load balancer) refuses an
 *    unknown or revoked certificate by simply closing, with no alert. A server that accepts the
 *    certificate keeps an idle connection open, one that refuses it closes it at once; `holdMs`
 *    is how long we watch. The probe sends no request, so it is a diagnosis, not a retry.
 */

/** Server-side alerts that mean "your certificate was not accepted". */
const CERT_REFUSAL_ALERT =
  /^ERR_SSL_.*ALERT_(CERTIFICATE_REQUIRED|BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_REVOKED|CERTIFICATE_EXPIRED|CERTIFICATE_UNKNOWN|UNSUPPORTED_CERTIFICATE|ACCESS_DENIED|HANDSHAKE_FAILURE|DECRYPT_ERROR)$/;

/** Our side could not verify the bank's server certificate (wrong CA bundle, hostname, expiry). */
const SERVER_CERT_UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_REVOKED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'HOSTNAME_MISMATCH',
  'CERT_REJECTED',
  'INVALID_CA',
]);

export function isCertificateRefusalCode(code: string): boolean {
  return CERT_REFUSAL_ALERT.test(code);
}

export function isServerCertificateUntrustedCode(code: string): boolean {
  return SERVER_CERT_UNTRUSTED.has(code);
}

export interface ServerCertificateInfo {
  subject: string;
  issuer: string;
  validTo: string;
}

export type TlsProbeOutcome =
  | { kind: 'accepted'; protocol: string; server: ServerCertificateInfo }
  | { kind: 'refused'; code: string }
  | { kind: 'server_untrusted'; code: string }
  | { kind: 'unreachable'; code: string };

export interface TlsProbeOptions {
  url: string;
  credential: TlsCredential;
  connectTimeoutMs: number;
  /** How long an accepted connection must stay open after the handshake. */
  holdMs: number;
  /**
   * The outbound address policy: a forbidden address is `unreachable` with code EADDRNOTALLOWED, never connected to.
   */
  outbound?: OutboundPolicy | undefined;
}

function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'UNKNOWN';
}

function serverInfo(socket: TLSSocket): ServerCertificateInfo {
  const peer = socket.getPeerCertificate();
  const name = (o: Record<string, unknown> | undefined) =>
    o
      ? Object.entries(o)
          .map(([k, v]) => `${k}=${String(v)}`)
          .join(', ')
      : '';
  return { subject: name(peer.subject), issuer: name(peer.issuer), validTo: peer.valid_to };
}

export function probeTls(options: TlsProbeOptions): Promise<TlsProbeOutcome> {
  const url = new URL(options.url);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const { credential } = options;
  if (options.outbound) {
    try {
      options.outbound.assertLiteralHost(host);
    } catch {
      return Promise.resolve({ kind: 'unreachable', code: ADDRESS_REFUSED_CODE });
    }
  }
  return new Promise((resolve) => {
    let settled = false;
    let handshakeDone = false;
    let timer: NodeJS.Timeout | undefined;
    const socket = connect({
      host,
      port: Number(url.port || 443),
      ...(isIP(host) === 0 ? { servername: host } : {}),
      cert: credential.certPem,
      key: credential.keyPem,
      ...(credential.caPem === undefined ? {} : { ca: credential.caPem }),
      ALPNProtocols: ['http/1.1'],
      ...(options.outbound ? { lookup: options.outbound.lookup } : {}),
    });
    const finish = (outcome: TlsProbeOutcome) => {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        resolve(outcome);
      }
    };
    timer = setTimeout(() => finish({ kind: 'unreachable', code: 'CONNECT_TIMEOUT' }), options.connectTimeoutMs);
    socket.on('secureConnect', () => {
      handshakeDone = true;
      const accepted: TlsProbeOutcome = {
        kind: 'accepted',
        protocol: socket.getProtocol() ?? 'unknown',
        server: serverInfo(socket),
      };
      clearTimeout(timer);
      timer = setTimeout(() => finish(accepted), options.holdMs);
    });
    // Flowing mode, so a close or an alert right after the handshake is noticed.
    socket.on('data', () => undefined);
    socket.on('error', (err) => {
      const code = codeOf(err);
      if (isCertificateRefusalCode(code)) {
        finish({ kind: 'refused', code });
      } else if (isServerCertificateUntrustedCode(code)) {
        finish({ kind: 'server_untrusted', code });
      } else if (handshakeDone) {
        finish({ kind: 'refused', code });
      } else {
        finish({ kind: 'unreachable', code });
      }
    });
    socket.on('close', () =>
      finish(
        handshakeDone
          ? { kind: 'refused', code: 'CLOSED_AFTER_HANDSHAKE' }
          : { kind: 'unreachable', code: 'CLOSED_BEFORE_HANDSHAKE' },
      ),
    );
  });
}
