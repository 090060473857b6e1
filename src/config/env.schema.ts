import { isIP } from 'node:net';
import { z } from 'zod';

const intString = (min: number, max: number) =>
  z.string().regex(/^\d+$/, 'must be a whole number').transform(Number).pipe(z.number().int().min(min).max(max));

const url = (protocols: readonly string[], example: string) =>
  z.string().refine(
    (v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a URL like ${example}` },
  );

const list = z.string().transform((v) =>
  v
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean),
);

/** The path of a URL, or undefined for text that is no URL (the URL check itself reports that, once). */
const pathOf = (v: string): string | undefined => {
  try {
    return new URL(v).pathname;
  } catch {
    return undefined;
  }
};

/** A URL whose path can be read (`%E0%A4%A` cannot: decoding it throws). */
const decodablePath = (v: string): boolean => {
  try {
    decodeURIComponent(pathOf(v) ?? '');
    return true;
  } catch {
    return false;
  }
};

/** One entry of Express's `trust proxy` list: a name it knows, an address, or address/prefix or address/netmask. */
function trustedProxy(entry: string): boolean {
  if (['loopback', 'linklocal', 'uniquelocal'].includes(entry)) {
    return true;
  }
  const [address = '', range, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) {
    return false;
  }
  if (range === undefined) {
    return true;
  }
  if (/^\d{1,3}$/.test(range)) {
    return Number(range) <= (family === 4 ? 32 : 128);
  }
  return family === 4 && isIP(range) === 4;
}

export const ROLES = ['api', 'worker', 'scheduler'] as const;
export type Role = (typeof ROLES)[number];

/** Every variable the service reads. Values arrive as strings (env or config/*.json). */
export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']),
  DATABASE_URL: url(['postgres:', 'postgresql:'], 'postgres://user@host:5432/db').refine(decodablePath, {
    message: 'has a database name that is not valid percent-encoding',
  }),
  /** A streaming replica of DATABASE_URL for the read API's queries; empty = every read on DATABASE_URL. */
  DATABASE_READ_URL: z
    .string()
    .refine(
      (v) => {
        try {
          return v === '' || ['postgres:', 'postgresql:'].includes(new URL(v).protocol);
        } catch {
          return false;
        }
      },
      { message: 'must be a URL like postgres://user@replica:5432/db, or empty for no replica' },
    )
    .refine((v) => v === '' || decodablePath(v), { message: 'has a database name that is not valid percent-encoding' }),
  /** Longest wait for the replica to replay what the primary had when a read arrived; then the primary serves it. */
  DATABASE_READ_MAX_WAIT_MS: intString(0, 10_000),
  REDIS_URL: url(['redis:', 'rediss:'], 'redis://127.0.0.1:6379').refine(
    (v) => /^\/?(\d+)?$/.test(pathOf(v) ?? ''),
    'may name a database only by its number (redis://host:6379/2)',
  ),
  /** Seed nodes of a Redis Cluster (`host:port`, comma-separated); empty = the single Redis at REDIS_URL. */
  REDIS_CLUSTER_NODES: list.pipe(
    z.array(
      z
        .string()
        .regex(
          /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):([1-9]\d{0,4})$/,
          'must list seed nodes as host:port, comma-separated (e.g. 10.0.0.1:7000,10.0.0.2:7000), or be empty for a single Redis',
        )
        .refine((node) => Number(node.slice(node.lastIndexOf(':') + 1)) <= 65535, 'port must be at most 65535'),
    ),
  ),
  PORT: intString(0, 65535),
  HOST: z.string().min(1),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']),
  LOG_FORMAT: z.enum(['json', 'pretty']),
  QUEUE_PREFIX: z.string().regex(/^\{[^{}]+\}/, 'must start with a Redis Cluster hash tag such as {jpm-sync}'),
  ROLES: z
    .string()
    .transform((v) =>
      v
        .split(',')
        .map((r) => r.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.enum(ROLES)).min(1, 'name at least one of api, worker, scheduler')),
  WORKER_CONCURRENCY: intString(1, 256),
  SHUTDOWN_TIMEOUT_MS: intString(100, 600_000),
  DB_POOL_MAX: intString(1, 500),
  CORS_ORIGINS: z.string().transform((v) =>
    v
      .split(',')
      .map((o) => o.trim())
      .filter(Boolean),
  ),
  PUBLIC_BASE_URL: z.string().refine(
    (v) => {
      try {
        return v === '' || ['http:', 'https:'].includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    { message: 'must be an http(s) URL like https://jpm-sync.example.com, or empty' },
  ),
  SIMULATOR_HOST: z.string().min(1),
  SIMULATOR_PORT: intString(0, 65535),
  SIMULATOR_PKI_DIR: z.string().min(1),
  JPM_CONNECT_TIMEOUT_MS: intString(100, 600_000),
  JPM_REQUEST_TIMEOUT_MS: intString(100, 600_000),
  CHANGE_FEED_RETENTION_DAYS: intString(1, 3650),
  /** Change events the search step applies per batch (one transaction). */
  SEARCH_INDEX_BATCH_SIZE: intString(1, 100_000),
  /** Fraction of its time the search step may run while ingestion is busy (a backfill); 1 = never yield. */
  SEARCH_INDEX_BUSY_SHARE: z
    .string()
    .regex(/^\d+(\.\d+)?$/, 'must be a fraction such as 0.25')
    .transform(Number)
    .pipe(z.number().gt(0, 'must be above 0').max(1, 'must be at most 1')),
  /** The search step stops yielding to ingestion once the oldest change it has not applied is this old. */
  SEARCH_INDEX_MAX_LAG_SECONDS: intString(1, 86_400),
  SYNC_LOOKBACK_DAYS: intString(0, 30),
  /** Exceptions to the outbound address policy: CIDRs, addresses or host names (src/shared/outbound-policy.ts). */
  OUTBOUND_ALLOW: list,
  /** Operator-approved hosts besides J.P. Morgan's own for cat and prod base URLs (e.g. an egress proxy). */
  JPM_BASE_URL_HOSTS: list,
  /** Requests handled at once per process, requests waiting for a slot, and the longest wait before a 503. */
  HTTP_MAX_CONCURRENT: intString(1, 10_000),
  HTTP_MAX_QUEUE: intString(0, 100_000),
  HTTP_QUEUE_TIMEOUT_MS: intString(1, 60_000),
  /** Longest wait for a Postgres pool connection; kept well under clients' timeouts (a 503, not a hang). */
  DB_POOL_WAIT_MS: intString(100, 60_000),
  /** Failed authentications allowed per source address and per key prefix within the window, then 429. */
  AUTH_FAILURES_PER_ADDRESS: intString(1, 1_000_000),
  AUTH_FAILURES_PER_KEY: intString(1, 1_000_000),
  AUTH_FAILURE_WINDOW_MS: intString(1_000, 86_400_000),
  /**
   * How long an API process may serve a key row from memory while it hears every key change (0 = never). Only a
   * backstop (revocations arrive by notification), so at most a minute.
   */
  API_KEY_CACHE_MS: intString(0, 60_000),
  /** Express `trust proxy`: empty = the socket's address; `loopback`, CIDRs or a hop count behind a load balancer. */
  TRUST_PROXY: z.string().refine(
    (v) =>
      /^\s*\d+\s*$/.test(v) ||
      v
        .split(',')
        .map((e) => e.trim())
        .filter(Boolean)
        .every(trustedProxy),
    'must be empty, a hop count, or a comma-separated list of loopback, linklocal, uniquelocal, addresses and CIDRs',
  ),
  /** `host:port` to serve /metrics on a separate listener instead of the API's; empty = the API listener. */
  METRICS_LISTEN: z
    .string()
    .regex(/^$|^[^\s]+:\d{1,5}$/, 'must be host:port (e.g. 127.0.0.1:9464) or empty')
    .refine((v) => v === '' || Number(v.slice(v.lastIndexOf(':') + 1)) <= 65535, 'port must be at most 65535'),
  /** From address of milestone emails (used when SMTP_URL is set), e.g. `"Onboarding" <onboarding@example.com>`. */
  SMTP_FROM: z.string().regex(/^$|@/, 'must be an email address, optionally with a display name'),
  /** PEM file of the CA that signed the SMTP server's certificate, when it is not a public one; empty = system CAs. */
  SMTP_CA_FILE: z.string(),
});

const base64Key = z
  .string()
  .refine((v) => Buffer.from(v, 'base64').length === 32, 'must be 32 bytes, base64 (openssl rand -base64 32)');

/** Secrets are parsed by their own schema so they never travel inside `Config`. */
export const secretsSchema = z.object({
  DATABASE_PASSWORD: z.string().optional(),
  CREDENTIALS_MASTER_KEY: base64Key.optional(),
  CREDENTIALS_PREVIOUS_MASTER_KEYS: z
    .string()
    .optional()
    .transform((v) =>
      (v ?? '')
        .split(',')
        .map((k) => k.trim())
        .filter(Boolean),
    )
    .pipe(z.array(base64Key)),
  /** When set, /metrics answers only `Authorization: Bearer <token>`. */
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** Milestone emails: smtp://user:password@host:587 (STARTTLS required) or smtps://…:465; unset = no emails. */
  SMTP_URL: url(['smtp:', 'smtps:'], 'smtp://user:password@smtp.example.com:587').optional(),
});

export const ENV_KEYS = Object.keys(envSchema.shape) as (keyof typeof envSchema.shape)[];
export const SECRET_KEYS = Object.keys(secretsSchema.shape) as (keyof typeof secretsSchema.shape)[];
