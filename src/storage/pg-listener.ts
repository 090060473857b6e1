import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { retryDelayMs } from '../shared/backoff.ts';
import { quoteIdent } from './db.ts';

/**
 * Payloads that start with this are a listener's probes (see `probe`), never forwarded to onNotify, whichever
 * process sent them. Payloads that mean something (e.g. an API key's prefix, [a-z0-9]) never look like it.
 */
export const PROBE_PAYLOAD_PREFIX = 'probe:';

/** Reported to onDown when `verify` says the notifications cannot be relied on (its reason is the message). */
export class ListenerPreconditionError extends Error {
  override readonly name = 'ListenerPreconditionError';
}

export interface PgListenerOptions {
  url: string;
  password?: string | undefined;
  channel: string;
  applicationName: string;
  /** A notification on the channel (its payload; '' when none). Probes are not passed on. */
  onNotify(payload: string): void;
  /** Notifications are proven to arrive: from now on every committed notification reaches onNotify. */
  onUp(): void;
  /**
   * The proof is gone: the connection was lost (`err`), closed (undefined), a probe could not be sent or
   * `verify` gave a reason (a ListenerPreconditionError). Notifications may be missed until the next onUp.
   */
  onDown(err: unknown): void;
  /**
   * After onUp and after every later successful proof: every notification committed before `provenAt`
   * (performance.now() when the proof started) has reached onNotify.
   */
  onAlive?(provenAt: number): void;
  /**
   * Sends `pg_notify(channel, payload)` by the path the notifications that matter take (e.g. the pool that
   * writes the changes). With it, every heartbeat is an end-to-end proof: the listener counts as up only while
   * its own probe arrives on its connection within heartbeatTimeoutMs, so a connection that answers queries
   * but hears nothing (a silent socket to a former primary, a transaction-pooling proxy) is not trusted.
   * Without it the heartbeat is a `select 1` on the connection.
   */
  probe?(payload: string): Promise<void>;
  /**
   * Why notifications cannot be relied on even if they arrive (e.g. the triggers that send them are missing or
   * disabled), undefined when they can. Asked at connect and before every probe; while it gives a reason the
   * listener stays down (the connection is kept) and asks again at the next heartbeat.
   */
  verify?(): Promise<string | undefined>;
  /** How often the listener proves it is alive (default 5 s). */
  heartbeatMs?: number;
  /** A proof not completed this long counts as failed (default 2 s). */
  heartbeatTimeoutMs?: number;
  /** Reconnect backoff (default 100 ms doubling to 5 s). */
  retry?: { baseMs: number; maxMs: number };
}

export interface PgListener {
  /** Connects (once; later calls do nothing). Failures are retried in the background, never thrown. */
  start(): void;
  readonly listening: boolean;
  /** Stops listening and reconnecting and ends the connection (onDown is called if it was up). */
  close(): Promise<void>;
}

/** `p`, or a rejection with `what` once `ms` have passed. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * One dedicated Postgres connection (not from the pool: a pooled connection would drop LISTEN when it is
 * returned) that LISTENs on a channel and reconnects on its own. Its owner learns exactly when it may rely on
 * the notifications: between onUp and onDown, and (onAlive) up to when they were last proven to arrive. With
 * `probe`, a proof is a notification sent the way real ones travel and heard on this connection; a probe that
 * was sent but not heard within heartbeatTimeoutMs drops the connection and reconnects.
 */
export function pgListener(options: PgListenerOptions): PgListener {
  const heartbeatMs = options.heartbeatMs ?? 5_000;
  const heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? 2_000;
  const retry = options.retry ?? { baseMs: 100, maxMs: 5_000 };
  let client: pg.Client | undefined;
  let listening = false;
  let started = false;
  let closed = false;
  let attempt = 0;
  let reconnect: NodeJS.Timeout | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  /** The probe this connection waits for. */
  let waiting: { nonce: string; heard: () => void } | undefined;
  const proving = new WeakSet<pg.Client>();

  function down(err: unknown): void {
    if (listening) {
      listening = false;
      options.onDown(err);
    }
  }

  function alive(provenAt: number): void {
    attempt = 0;
    if (!listening) {
      listening = true;
      options.onUp();
    }
    options.onAlive?.(provenAt);
  }

  function lost(c: pg.Client, err: unknown): void {
    if (c !== client) {
      return;
    }
    client = undefined;
    waiting = undefined;
    clearInterval(heartbeat);
    down(err);
    c.end().catch(() => undefined);
    if (!closed) {
      reconnect = setTimeout(() => void connect(), retryDelayMs(++attempt, retry));
      reconnect.unref();
    }
  }

  async function prove(c: pg.Client): Promise<void> {
    const provenAt = performance.now();
    if (options.verify) {
      let problem: unknown;
      try {
        const reason = await within(options.verify(), heartbeatTimeoutMs, 'listener check did not answer');
        problem = reason === undefined ? undefined : new ListenerPreconditionError(reason);
      } catch (err) {
        problem = err;
      }
      if (c !== client) {
        return;
      }
      if (problem !== undefined) {
        down(problem);
        return;
      }
    }
    if (options.probe === undefined) {
      try {
        await within(c.query('select 1'), heartbeatTimeoutMs, 'listener heartbeat did not answer');
      } catch (err) {
        lost(c, err);
        return;
      }
      if (c === client) {
        alive(provenAt);
      }
      return;
    }
    const sentAt = performance.now();
    const nonce = `${PROBE_PAYLOAD_PREFIX}${randomBytes(12).toString('base64url')}`;
    const heard = new Promise<void>((resolve) => {
      waiting = { nonce, heard: resolve };
    });
    try {
      await within(options.probe(nonce), heartbeatTimeoutMs, 'probe notification was not sent');
    } catch (err) {
      // The path the notifications take is unproven; this connection is not known to be at fault.
      if (c === client) {
        waiting = undefined;
        down(err);
      }
      return;
    }
    try {
      await within(
        heard,
        Math.max(0, sentAt + heartbeatTimeoutMs - performance.now()),
        'listener did not hear its probe notification',
      );
    } catch (err) {
      lost(c, err);
      return;
    }
    if (c === client) {
      waiting = undefined;
      alive(provenAt);
    }
  }

  async function beat(c: pg.Client): Promise<void> {
    if (proving.has(c)) {
      return;
    }
    proving.add(c);
    try {
      await prove(c);
    } finally {
      proving.delete(c);
    }
  }

  async function connect(): Promise<void> {
    reconnect = undefined;
    const c = new pg.Client({
      connectionString: options.url,
      ...(options.password === undefined ? {} : { password: options.password }),
      application_name: options.applicationName,
      keepAlive: true,
      connectionTimeoutMillis: heartbeatTimeoutMs,
    });
    client = c;
    c.on('error', (err) => lost(c, err));
    c.on('end', () => lost(c, new Error('listener connection ended')));
    // Not gated on `listening`: a notification that arrives before onUp only clears what onUp clears anyway.
    c.on('notification', (msg) => {
      if (msg.channel !== options.channel) {
        return;
      }
      const payload = msg.payload ?? '';
      if (payload.startsWith(PROBE_PAYLOAD_PREFIX)) {
        if (c === client && waiting?.nonce === payload) {
          waiting.heard();
        }
        return;
      }
      options.onNotify(payload);
    });
    try {
      await c.connect();
      await c.query(`listen ${quoteIdent(options.channel)}`);
    } catch (err) {
      lost(c, err);
      return;
    }
    if (c !== client) {
      // Closed (or lost) while connecting.
      c.end().catch(() => undefined);
      return;
    }
    heartbeat = setInterval(() => void beat(c), heartbeatMs);
    heartbeat.unref();
    await beat(c);
  }

  return {
    start() {
      if (started || closed) {
        return;
      }
      started = true;
      void connect();
    },
    get listening() {
      return listening;
    },
    async close() {
      closed = true;
      clearTimeout(reconnect);
      clearInterval(heartbeat);
      const c = client;
      client = undefined;
      waiting = undefined;
      down(undefined);
      await c?.end().catch(() => undefined);
    },
  };
}
