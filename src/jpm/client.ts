import { getBalances, type BalancesRequest, type BalancesResult } from './balances.ts';
import { testConnection, type ConnectionTestResult } from './connection-test.ts';
import type { OutboundPolicy } from '../shared/outbound-policy.ts';
import type { CredentialSource } from './credential-agents.ts';
import { JpmTransport, type JpmCallEvent, type JpmTimeouts } from './transport.ts';
import {
  DEFAULT_MAX_WALK_RESTARTS,
  transactionPages,
  type TransactionPageEvent,
  type TransactionsRequest,
} from './transactions.ts';

export interface JpmClientOptions {
  /** `https://apigateway.jpmorgan.com`, `https://apigatewaycat.jpmorgan.com`, or the simulator's URL. */
  baseUrl: string;
  credentials: CredentialSource;
  /** Defaults: connect 10 s, headers 60 s, body 60 s, whole request 120 s, keep-alive 30 s. */
  timeouts?: Partial<JpmTimeouts>;
  /** Connections per origin in the pool (default 4). */
  connections?: number;
  /** Largest response body accepted (default 64 MiB; a full v3 page is a few MB). */
  maxResponseBytes?: number;
  /** See `tls-probe.ts` (default 1500 ms). */
  refusalProbeMs?: number;
  /** v3 walk restarts per slice before `jpm_unstable_pages` (default 5). */
  maxWalkRestarts?: number;
  /** Called after every call (metrics, tests). Must not throw. */
  onCall?: (event: JpmCallEvent) => void;
  /**
   * The outbound address policy (src/shared/outbound-policy.ts): every connection, the TLS probe and
   * the connection test's DNS step go through it. The service always passes the deployment's policy;
   * tools and tests talking to a local simulator may leave it out.
   */
  outbound?: OutboundPolicy;
}

export const DEFAULT_TIMEOUTS: JpmTimeouts = {
  connectMs: 10_000,
  headersMs: 60_000,
  bodyMs: 60_000,
  requestMs: 120_000,
  keepAliveMs: 30_000,
};

/**
 * J.P. Morgan Access client for one integration (one base URL, one credential source) over mTLS.
 *
 * Lifecycle: construct once per integration and reuse it (it keeps a keep-alive connection pool per
 * credential); call `close()` on shutdown, which lets calls in flight finish and then closes the
 * sockets. A rotated certificate (new credential `id`) is picked up by the next call, no restart.
 * Every call carries an `x-request-id` UUID and an overall timeout; pass `signal` to abort early.
 * The client never retries (but for a call on a kept-alive connection the server closed as it arrived, sent again
 * on another connection): failures are `JpmUnavailableError` (retryable) or `JpmRejectedError`.
 */
export class JpmClient {
  readonly #transport: JpmTransport;
  readonly #maxWalkRestarts: number;
  readonly #probe: { connectTimeoutMs: number; holdMs: number };

  constructor(options: JpmClientOptions) {
    const timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    const refusalProbeMs = options.refusalProbeMs ?? 1500;
    this.#transport = new JpmTransport({
      baseUrl: options.baseUrl,
      credentials: options.credentials,
      timeouts,
      connections: options.connections ?? 4,
      maxResponseBytes: options.maxResponseBytes ?? 64 * 1024 * 1024,
      refusalProbeMs,
      outbound: options.outbound,
      ...(options.onCall ? { onCall: options.onCall } : {}),
    });
    this.#maxWalkRestarts = options.maxWalkRestarts ?? DEFAULT_MAX_WALK_RESTARTS;
    this.#probe = { connectTimeoutMs: timeouts.connectMs, holdMs: refusalProbeMs };
  }

  /** Id of the credential whose connection pool is in use (undefined before the first call). */
  get activeCredentialId(): string | undefined {
    return this.#transport.activeCredentialId;
  }

  /**
   * `POST /accessapi/balance`. Ranges over 31 days and more than 10 accounts are split into several
   * calls and merged. Per-account errors (GCA-024 …) come back in `accountErrors`, not as exceptions.
   */
  getBalances(req: BalancesRequest): Promise<BalancesResult> {
    return getBalances(this.#transport, req);
  }

  /**
   * `GET /tsapi/v3/transactions`, page by page, over ≤ 10-account × ≤ 5-day slices. Yields
   * `{ type: 'page', … }` per page and `{ type: 'restart', … }` when a slice's walk starts over
   * because `totalRecords` changed mid-walk.
   */
  transactionPages(req: TransactionsRequest): AsyncGenerator<TransactionPageEvent, void, undefined> {
    return transactionPages(this.#transport, req, this.#maxWalkRestarts);
  }

  /** Onboarding check: credential, DNS, TLS handshake and a minimal balance call; never throws. */
  testConnection(): Promise<ConnectionTestResult> {
    return testConnection(this.#transport, this.#probe);
  }

  close(): Promise<void> {
    return this.#transport.close();
  }
}
