import { Agent, request } from 'undici';
import { AppError } from '../shared/errors.ts';
import { createLogger, scrubSecrets, type Logger } from '../shared/logger.ts';
import { startPollingLoop, type PollingLoop } from '../shared/polling-loop.ts';
import { guardedConnector, isAddressRefusal, type OutboundPolicy } from '../shared/outbound-policy.ts';
import type { Database } from '../storage/db.ts';
import {
  claimDueDeliveries,
  deliveryForSending,
  endpointSecrets,
  recordAttempt,
  releaseClaim,
  type DeliveryClaim,
  type SealedSecretColumns,
} from '../storage/webhooks.repo.ts';
import { openSecret, SIGNATURE_HEADER, signatureHeader, type SealingKeys } from './webhook-signing.ts';
import { DEFAULT_MAX_AGE_SECONDS, produceWebhookEvents } from './webhooks.ts';
import { retryDelayMs } from '../shared/backoff.ts';

/**
 * Webhook delivery runner. One pass (`runWebhookDeliveries`): produce webhook events from the
 * outboxes, claim due deliveries (SKIP LOCKED, so every worker process can run passes at once
 * without sending anything twice in parallel), POST each signed body, log the attempt, and schedule
 * the next try with exponential backoff and jitter (30 s, 1 min, 2 min … capped at 1 h) until a day
 * after the delivery was created; then it is `failed` and can be replayed.
 *
 * Each delivery is claimed just before it is sent, so its hold (2 × timeout + 30 s) covers one send, never a queue
 * of sends waiting behind slow receivers: a claim taken for a whole batch ran out while its later deliveries still
 * waited, another runner took and sent them too, and the first runner's late record put acknowledged deliveries back
 * to pending. A claim can still run out (a stalled process): the claim token then changes hands, and the former
 * holder's record only logs its attempt (or, for a success, marks the delivery succeeded: the receiver has it).
 * Attempt numbers are given at the claim, so no two attempts of a delivery share one.
 *
 * Stopping (`stopping` aborted, the worker's SIGTERM): no further delivery is claimed, and a send in flight is cut
 * short rather than waited for (a receiver may hold it for the whole timeout, longer than a stop allows). Its delivery
 * is given back unsent (`releaseClaim`): pending and due at once, no attempt logged, since the receiver did not fail.
 * Delivery stays at least once: a receiver that got the cut-short request gets it again, with a new attempt number.
 *
 * Why a loop in the worker role rather than a BullMQ job: the retry schedule of each delivery lives
 * in its database row (it must survive Redis loss and be visible in the delivery log), and the
 * claim makes concurrent runners safe, so a plain polling loop per worker is all it needs.
 * No transaction is held open during an HTTP call (STYLE §11).
 */
export interface WebhookRunnerDeps {
  db: Database;
  keys: SealingKeys;
  logger?: Logger;
  /** Per-request timeout (default 10 s). Redirects are not followed. */
  timeoutMs?: number;
  retry?: { baseMs: number; maxMs: number };
  maxAgeSeconds?: number;
  /** Deliveries sent per pass (default 50), `concurrency` at a time (default 8), each claimed just before its send. */
  batchSize?: number;
  concurrency?: number;
  /**
   * The outbound address policy every connection goes through (checked and pinned at connect time,
   * so a receiver host re-pointed at an internal address after registration is refused). The worker
   * always passes the deployment's policy.
   */
  outbound?: OutboundPolicy;
  /** Aborted when the process stops: nothing more is claimed, and sends in flight are cut short and given back. */
  stopping?: AbortSignal;
  /**
   * Whether the change feed's database is the recorded one (src/events/feed-database-guard.ts): while not, no
   * webhook events are produced (from changes or milestones); deliveries already produced still go out.
   */
  feedDatabase?: { isOpen(): Promise<boolean> };
}

export interface PassResult {
  produced: { changes: number; milestones: number };
  attempted: number;
  succeeded: number;
  retrying: number;
  failed: number;
}

const DEFAULT_RETRY = { baseMs: 30_000, maxMs: 3_600_000 };
const NEVER_MS = 365 * 86_400_000;

interface SendOutcome {
  responseStatus: number | null;
  error: string | null;
  succeeded: boolean;
}

/**
 * 410 Gone: the receiver says the hook is gone for good. Retrying it for a day would only repeat the answer, so the
 * delivery fails at once (replay it once the receiver is back); the endpoint stays as it is (the owner decides).
 */
const GONE = 410;
const GONE_ERROR = 'receiver answered HTTP 410 Gone: not retried (replay the delivery once the receiver is back)';

/** A send cut short because the process is stopping: the delivery goes back unsent, no attempt is logged. */
const STOPPED = 'stopped';

/** What a receiver's owner is shown for a failure without an HTTP answer: no port-state or network detail. */
export const CONNECTION_FAILED = 'connection failed (no HTTP response)';
/**
 * What the owner is shown when the endpoint's signing secret cannot be opened with this deployment's master keys (a key
 * dropped from CREDENTIALS_PREVIOUS_MASTER_KEYS before `jpm-sync credentials rewrap`, or a tampered row): nothing was
 * sent; the delivery is retried on its schedule, so it goes out once the operator restores the key.
 */
export const SECRET_UNREADABLE = 'not sent: the signing secret cannot be read by the service (operator: master key)';
export const ADDRESS_REFUSED = 'address not allowed by the outbound address policy';

const agents = new WeakMap<OutboundPolicy, Agent>();
let unguarded: Agent | undefined;

/** One keep-alive pool per policy for the process (deliveries of every pass share it). */
function agentFor(outbound: OutboundPolicy | undefined): Agent {
  if (!outbound) {
    unguarded ??= new Agent({ connect: { timeout: 10_000 } });
    return unguarded;
  }
  let agent = agents.get(outbound);
  if (!agent) {
    agent = new Agent({ connect: guardedConnector(outbound, { timeout: 10_000 }) });
    agents.set(outbound, agent);
  }
  return agent;
}

async function post(
  url: string,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
  outbound: OutboundPolicy | undefined,
  log: Logger,
  stopping: AbortSignal | undefined,
): Promise<SendOutcome | typeof STOPPED> {
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    const res = await request(url, {
      method: 'POST',
      headers,
      body,
      dispatcher: agentFor(outbound),
      signal: stopping ? AbortSignal.any([stopping, timeout]) : timeout,
    });
    // Drain (and ignore) the receiver's body so the connection can be reused; we never store it.
    await res.body.dump().catch(() => undefined);
    const ok = res.statusCode >= 200 && res.statusCode < 300;
    return {
      responseStatus: res.statusCode,
      error: ok ? null : res.statusCode === GONE ? GONE_ERROR : `receiver answered HTTP ${res.statusCode}`,
      succeeded: ok,
    };
  } catch (err) {
    if (stopping?.aborted) {
      return STOPPED;
    }
    // Whether the port was closed (ECONNREFUSED), open but silent (timeout) or reset tells an attacker
    // about a network they cannot see: the owner gets one message, the operator the detail in the log.
    const refused = isAddressRefusal(err);
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const code = (err as { code?: string }).code ?? cause?.code;
    log.info(
      { code: refused ? 'EADDRNOTALLOWED' : code, detail: scrubSecrets(cause?.message ?? (err as Error).message) },
      'webhook receiver not reached',
    );
    return { responseStatus: null, error: refused ? ADDRESS_REFUSED : CONNECTION_FAILED, succeeded: false };
  }
}

/** The body a receiver gets; the same for every attempt and replay of an event. */
export function webhookBody(e: {
  event_id: string;
  type: string;
  organization_id: string;
  event_created_at: Date;
  payload: unknown;
}): string {
  return JSON.stringify({
    id: e.event_id,
    type: e.type,
    organizationId: e.organization_id,
    createdAt: e.event_created_at.toISOString(),
    data: e.payload,
  });
}

type SendingDelivery = NonNullable<Awaited<ReturnType<typeof deliveryForSending>>>;

/**
 * The endpoint's signing secrets (current first, then those in their grace period), or the error that says why one
 * cannot be opened with this deployment's master keys: the caller records a failed attempt instead of throwing, which
 * would leave the delivery claimed but unrecorded, to be claimed and thrown again forever.
 */
function openSecrets(sealed: EndpointSecrets, keys: SealingKeys, endpointId: string): string[] | AppError {
  try {
    const current = openSecret(
      {
        ciphertext: sealed.secret_ciphertext,
        iv: sealed.secret_iv,
        authTag: sealed.secret_auth_tag,
        keyId: sealed.secret_key_id,
      },
      keys,
      endpointId,
      sealed.secret_version,
    );
    return [current, ...earlierSecrets(sealed).map((e) => openSecret(e.sealed, keys, endpointId, e.version))];
  } catch (err) {
    if (err instanceof AppError) {
      return err;
    }
    throw err;
  }
}

async function signAndPost(
  deps: WebhookRunnerDeps,
  claim: DeliveryClaim,
  d: SendingDelivery,
  secrets: readonly string[],
  log: Logger,
): Promise<SendOutcome | typeof STOPPED> {
  const body = webhookBody(d);
  const timestamp = Math.floor(Date.now() / 1000);
  return post(
    d.url,
    {
      'content-type': 'application/json',
      'user-agent': 'jpm-sync-webhooks/1',
      [SIGNATURE_HEADER]: signatureHeader(secrets, timestamp, body),
      'JPM-Sync-Event-Id': d.event_id,
      'JPM-Sync-Event-Type': d.type,
      'JPM-Sync-Delivery-Id': d.id,
      'JPM-Sync-Delivery-Attempt': String(claim.attempt),
    },
    body,
    deps.timeoutMs ?? 10_000,
    deps.outbound,
    log.child({ deliveryId: d.id, endpointId: d.endpoint_id }),
    deps.stopping,
  );
}

async function sendOne(
  deps: WebhookRunnerDeps,
  claim: DeliveryClaim,
  log: Logger,
): Promise<'succeeded' | 'pending' | 'failed' | 'superseded' | 'released'> {
  const d = await deliveryForSending(deps.db, claim);
  if (!d) {
    // The claim ran out and another runner holds the delivery now, or it is final: nothing to send.
    return 'superseded';
  }
  const sealed = await endpointSecrets(deps.db, d.endpoint_id);
  if (!sealed) {
    return 'failed';
  }
  const startedAt = new Date();
  const started = performance.now();
  let outcome: SendOutcome | typeof STOPPED;
  if (d.endpoint_status !== 'active') {
    outcome = { responseStatus: null, error: `endpoint is ${d.endpoint_status}`, succeeded: false };
  } else {
    const secrets = openSecrets(sealed, deps.keys, d.endpoint_id);
    if (secrets instanceof AppError) {
      log.error(
        { err: secrets, deliveryId: d.id, endpointId: d.endpoint_id, attempt: claim.attempt },
        'webhook secret unreadable: delivery not sent',
      );
      outcome = { responseStatus: null, error: SECRET_UNREADABLE, succeeded: false };
    } else {
      outcome = await signAndPost(deps, claim, d, secrets, log);
    }
  }
  if (outcome === STOPPED) {
    const released = await releaseClaim(deps.db, claim);
    log.info({ deliveryId: d.id, endpointId: d.endpoint_id, attempt: claim.attempt, released }, 'webhook send stopped');
    return 'released';
  }
  const status = await recordAttempt(deps.db, {
    deliveryId: d.id,
    claimToken: claim.token,
    organizationId: d.organization_id,
    endpointId: d.endpoint_id,
    attempt: claim.attempt,
    startedAt,
    durationMs: Math.round(performance.now() - started),
    ...outcome,
    // A disabled or deleted endpoint is not retried: the delivery fails now (and can be replayed).
    retryInMs: outcome.succeeded
      ? 0
      : d.endpoint_status !== 'active' || outcome.responseStatus === GONE
        ? NEVER_MS
        : retryDelayMs(claim.attempt, deps.retry ?? DEFAULT_RETRY),
  });
  if (!outcome.succeeded) {
    log.info(
      {
        deliveryId: d.id,
        endpointId: d.endpoint_id,
        attempt: claim.attempt,
        responseStatus: outcome.responseStatus,
        status,
      },
      'webhook delivery attempt failed',
    );
  }
  return status;
}

/**
 * Webhook events from the change feed and the milestones, unless the feed's database changed under the running
 * service: then none, checked before the pass and again before each batch commits (a batch read on a session
 * just opened on a promoted node is rolled back).
 */
async function produceUnlessPaused(deps: WebhookRunnerDeps): Promise<PassResult['produced']> {
  const guard = deps.feedDatabase;
  const maxAgeSeconds = deps.maxAgeSeconds ?? DEFAULT_MAX_AGE_SECONDS;
  if (guard === undefined) {
    return produceWebhookEvents(deps.db, { maxAgeSeconds });
  }
  if (!(await guard.isOpen())) {
    return { changes: 0, milestones: 0 };
  }
  try {
    return await produceWebhookEvents(deps.db, {
      maxAgeSeconds,
      beforeCommit: async () => {
        if (!(await guard.isOpen())) {
          throw new FeedPaused();
        }
      },
    });
  } catch (err) {
    if (err instanceof FeedPaused) {
      return { changes: 0, milestones: 0 };
    }
    throw err;
  }
}

class FeedPaused extends Error {}

/** One pass: produce, claim, send, record. Never throws for a receiver's failure (that is a retry). */
export async function runWebhookDeliveries(deps: WebhookRunnerDeps): Promise<PassResult> {
  const log = deps.logger ?? createLogger('events');
  const produced = await produceUnlessPaused(deps);
  const timeoutMs = deps.timeoutMs ?? 10_000;
  // A claim outlives the slowest possible send of ONE delivery (each is claimed just before it is sent).
  const lockSeconds = Math.ceil((timeoutMs * 2) / 1000) + 30;
  const result: PassResult = { produced, attempted: 0, succeeded: 0, retrying: 0, failed: 0 };
  let budget = deps.batchSize ?? 50;
  const claimNext = async (): Promise<DeliveryClaim | undefined> => {
    if (budget <= 0 || deps.stopping?.aborted) {
      return undefined;
    }
    budget--;
    return (await claimDueDeliveries(deps.db, 1, lockSeconds))[0];
  };
  const work = async (claim: DeliveryClaim | undefined): Promise<void> => {
    for (let c = claim; c !== undefined; c = await claimNext()) {
      const status = await sendOne(deps, c, log);
      if (status === 'released') {
        continue;
      }
      result.attempted++;
      if (status !== 'superseded') {
        result[status === 'pending' ? 'retrying' : status]++;
      }
    }
  };
  // The first claim alone: an idle pass (the usual one) costs one query, not one per worker.
  const first = await claimNext();
  if (first !== undefined) {
    const others = Math.max(1, deps.concurrency ?? 8) - 1;
    await Promise.all([work(first), ...Array.from({ length: others }, async () => work(await claimNext()))]);
  }
  return result;
}

export type DeliveryLoop = PollingLoop;

/**
 * Runs passes every `intervalMs` (default 2 s) until stopped; a pass that did work is followed by
 * another one at once. Errors are logged and the loop goes on (the database may be restarting).
 * `stop()` does not wait for a pass's sends: it cuts those in flight short and gives their deliveries back (see
 * `stopping` above), so it ends as soon as the sends in flight have been released, whatever the receivers do.
 */
export function startWebhookDeliveryLoop(deps: WebhookRunnerDeps, options: { intervalMs?: number } = {}): DeliveryLoop {
  const stopping = new AbortController();
  const loop = startPollingLoop(
    async () => {
      const r = await runWebhookDeliveries({ ...deps, stopping: stopping.signal });
      return r.attempted > 0 || r.produced.changes + r.produced.milestones > 0;
    },
    {
      intervalMs: options.intervalMs ?? 2_000,
      log: deps.logger ?? createLogger('events'),
      failure: 'webhook delivery pass failed',
    },
  );
  return {
    async stop() {
      stopping.abort();
      await loop.stop();
    },
  };
}

type EndpointSecrets = NonNullable<Awaited<ReturnType<typeof endpointSecrets>>>;

/** The earlier secrets still in their grace period (previous, then older), each with the version it was sealed under. */
function earlierSecrets(s: EndpointSecrets): { sealed: SealedSecretColumns; version: number }[] {
  const slots = [
    {
      valid: s.previous_valid,
      version: s.previous_secret_version,
      ciphertext: s.previous_secret_ciphertext,
      iv: s.previous_secret_iv,
      authTag: s.previous_secret_auth_tag,
      keyId: s.previous_secret_key_id,
    },
    {
      valid: s.older_valid,
      version: s.older_secret_version,
      ciphertext: s.older_secret_ciphertext,
      iv: s.older_secret_iv,
      authTag: s.older_secret_auth_tag,
      keyId: s.older_secret_key_id,
    },
  ];
  return slots.flatMap(({ valid, version, ciphertext, iv, authTag, keyId }) =>
    valid && version !== null && ciphertext && iv && authTag && keyId
      ? [{ sealed: { ciphertext, iv, authTag, keyId }, version }]
      : [],
  );
}
