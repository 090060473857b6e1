import pg from 'pg';
import { retryDelayMs } from '../shared/backoff.ts';
import { quoteIdent } from './db.ts';

export interface PgListenerOptions {
  url: string;
  password?: string | undefined;
  channel: string;
  applicationName: string;
  /** A notification on the channel (its payload; '' when none). */
  onNotify(payload: string): void;
  /** LISTEN is in place: from now on every committed notification reaches onNotify. */
  onUp(): void;
  /** The connection is gone (`err`) or was closed (undefined): notifications may be missed until the next onUp. */
  onDown(err: unknown): void;
  /** How often the connection proves it is alive with a round trip (default 5 s). */
  heartbeatMs?: number;
  /** A heartbeat unanswered this long counts as a lost connection (default 2 s). */
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

/**
 * One dedicated Postgres connection (not from the pool: a pooled connection would drop LISTEN when it is
 * returned) that LISTENs on a channel and reconnects on its own. Its owner learns exactly when it may rely on
 * the notifications: between onUp and onDown. A connection that dies silently (no TCP reset) is caught by the
 * heartbeat within heartbeatMs + heartbeatTimeoutMs.
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

  function lost(c: pg.Client, err: unknown): void {
    if (c !== client) {
      return;
    }
    client = undefined;
    clearInterval(heartbeat);
    if (listening) {
      listening = false;
      options.onDown(err);
    }
    c.end().catch(() => undefined);
    if (!closed) {
      reconnect = setTimeout(() => void connect(), retryDelayMs(++attempt, retry));
      reconnect.unref();
    }
  }

  async function beat(c: pg.Client): Promise<void> {
    const timer = setTimeout(() => lost(c, new Error('listener heartbeat timed out')), heartbeatTimeoutMs);
    try {
      await c.query('select 1');
    } catch (err) {
      lost(c, err);
    } finally {
      clearTimeout(timer);
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
      if (msg.channel === options.channel) {
        options.onNotify(msg.payload ?? '');
      }
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
    attempt = 0;
    listening = true;
    options.onUp();
    heartbeat = setInterval(() => void beat(c), heartbeatMs);
    heartbeat.unref();
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
      if (listening) {
        listening = false;
        options.onDown(undefined);
      }
      await c?.end().catch(() => undefined);
    },
  };
}
