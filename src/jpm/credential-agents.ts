import { isAppError } from '../shared/errors.ts';
import { createSecureContext } from 'node:tls';
import { Agent } from 'undici';
import { createLogger } from '../shared/logger.ts';
import { guardedConnector, type OutboundPolicy } from '../shared/outbound-policy.ts';
import { JpmRejectedError, JpmUnavailableError } from './errors.ts';

/**
 * The client certificate J.P. Morgan knows us by. `id` labels one certificate version (for example
 * the certificate row id or its fingerprint) and MUST change when the certificate is rotated; it is
 * logged, the PEMs never are. `caPem` is only for non-public server CAs (the simulator's dev CA);
 * without it Node's public root store verifies the bank. The credentials module's `JpmCredential` is one.
 */
export interface TlsCredential {
  id: string;
  certPem: string;
  keyPem: string;
  caPem?: string;
}

/**
 * Where the client gets its credential, called once per request. It should be cheap (cache the
 * decrypted key and re-read only on change); returning a credential with a new `id` switches every
 * following request to a new connection pool, so a rotated certificate is used without a restart.
 */
export type CredentialSource = () => Promise<TlsCredential>;

export interface AgentSettings {
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  keepAliveTimeoutMs: number;
  connections: number;
  maxResponseBytes: number;
  /** When set, every connection goes through the outbound address policy (resolved address pinned). */
  outbound?: OutboundPolicy | undefined;
}

export interface ActiveAgent {
  credential: TlsCredential;
  agent: Agent;
}

const log = createLogger('jpm');

/**
 * One undici `Agent` (connection pool) per credential, never the global dispatcher (STYLE §7).
 * Lifecycle: `acquire(use)` reads the credential source; when its `id` differs from the current one
 * a new Agent is built and the old one is closed *gracefully* (undici lets requests already dispatched
 * on it finish, then ends its sockets). `use` runs synchronously with the chosen agent, so its request
 * is dispatched before any concurrent rotation can start closing that agent. `close()` closes the
 * current agent and waits for every agent still draining.
 */
export class CredentialAgents {
  readonly #source: CredentialSource;
  readonly #settings: AgentSettings;
  #current: (ActiveAgent & { seq: number }) | undefined;
  #fetchSeq = 0;
  #closed = false;
  readonly #draining = new Set<Promise<void>>();

  constructor(source: CredentialSource, settings: AgentSettings) {
    this.#source = source;
    this.#settings = settings;
  }

  /** The credential id of the pool in use, if any (for diagnostics and tests). */
  get activeCredentialId(): string | undefined {
    return this.#current?.credential.id;
  }

  async acquire<T>(use: (active: ActiveAgent) => Promise<T>): Promise<T> {
    this.#assertOpen();
    const seq = ++this.#fetchSeq;
    let credential: TlsCredential;
    try {
      credential = await this.#source();
    } catch (err) {
      // A typed reason from the credential store (certificate_expired, no_certificate, …) is the
      // clearest status an operator can get: pass it through instead of hiding it as TLS noise.
      if (isAppError(err)) {
        throw err;
      }
      throw new JpmRejectedError('the J.P. Morgan credential could not be loaded', 'jpm_credential_invalid', {
        cause: err,
      });
    }
    this.#assertOpen();
    const current = this.#current;
    // A slower, older read of the source must not swap back to the certificate a newer read replaced.
    if (current && (current.credential.id === credential.id || seq < current.seq)) {
      return use(current);
    }
    validateCredential(credential);
    const next = { credential, agent: this.#buildAgent(credential), seq };
    this.#current = next;
    if (current) {
      log.info(
        { credentialId: credential.id, previousCredentialId: current.credential.id },
        'jpm credential rotated, new connection pool',
      );
      this.#drain(current.agent);
    }
    return use(next);
  }

  async close(): Promise<void> {
    this.#closed = true;
    const current = this.#current;
    this.#current = undefined;
    if (current) {
      this.#drain(current.agent);
    }
    await Promise.all([...this.#draining]);
  }

  #assertOpen(): void {
    if (this.#closed) {
      throw new JpmUnavailableError('the J.P. Morgan client is closed', 'jpm_client_closed');
    }
  }

  #drain(agent: Agent): void {
    const done = agent
      .close()
      .catch((err: unknown) => log.warn({ err }, 'jpm connection pool did not close cleanly'))
      .finally(() => this.#draining.delete(done));
    this.#draining.add(done);
  }

  #buildAgent(credential: TlsCredential): Agent {
    const s = this.#settings;
    const tls = {
      cert: credential.certPem,
      key: credential.keyPem,
      ...(credential.caPem === undefined ? {} : { ca: credential.caPem }),
      timeout: s.connectTimeoutMs,
      keepAlive: true,
    };
    return new Agent({
      connect: s.outbound ? guardedConnector(s.outbound, tls) : tls,
      connections: s.connections,
      keepAliveTimeout: s.keepAliveTimeoutMs,
      headersTimeout: s.headersTimeoutMs,
      bodyTimeout: s.bodyTimeoutMs,
      maxResponseSize: s.maxResponseBytes,
    });
  }
}

/**
 * Builds the TLS context once up front so a bad PEM or a key that does not match its certificate
 * fails here, clearly and permanently, instead of as an opaque error on the first connection.
 * Only OpenSSL's error code goes into the error: its message could quote input.
 */
export function validateCredential(credential: TlsCredential): void {
  // Node treats an empty cert/key as "none": the handshake would go out without a client certificate.
  if (credential.certPem.trim() === '' || credential.keyPem.trim() === '') {
    throw new JpmRejectedError(
      `the J.P. Morgan credential ${credential.id} has no certificate or key`,
      'jpm_credential_invalid',
      { credentialId: credential.id },
    );
  }
  try {
    createSecureContext({
      cert: credential.certPem,
      key: credential.keyPem,
      ...(credential.caPem === undefined ? {} : { ca: credential.caPem }),
    });
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    throw new JpmRejectedError(
      `the J.P. Morgan credential ${credential.id} is unusable (${typeof code === 'string' ? code : 'invalid PEM'})`,
      'jpm_credential_invalid',
      { credentialId: credential.id, ...(typeof code === 'string' ? { transportCode: code } : {}) },
    );
  }
}
