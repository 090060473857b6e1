import { createHash } from 'node:crypto';
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { z } from 'zod';
import { ENV_KEYS, SECRET_KEYS, envSchema, secretsSchema, type Role } from './env.schema.ts';

export type { Role } from './env.schema.ts';

const CONFIG_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'config');

/** A fixed key for development and tests only; production refuses to start without a real one. */
const DEV_MASTER_KEY = Buffer.from('jpm-sync development key, not secret!!'.slice(0, 32), 'utf8');

export interface MasterKey {
  /** Short, stable id stored next to every ciphertext so rotation knows which key wrapped it. */
  id: string;
  key: Buffer;
}

export interface Config {
  env: 'development' | 'test' | 'production';
  database: {
    url: string;
    poolMax: number;
    poolWaitMs: number;
    /** DATABASE_READ_URL: a streaming replica for read API queries (README, "Read replica"); undefined = none. */
    readUrl: string | undefined;
    readMaxWaitMs: number;
  };
  /** REDIS_URL, and the seed nodes of a Redis Cluster (empty = a single Redis at `url`). */
  redis: { url: string; clusterNodes?: readonly string[] | undefined };
  http: {
    port: number;
    host: string;
    corsOrigins: readonly string[];
    publicBaseUrl: string;
    trustProxy: string;
    /** Bounded admission per process (src/http/admission.ts). */
    admission: { maxConcurrent: number; maxQueue: number; queueTimeoutMs: number };
    /** Failed-authentication throttling (src/http/auth-throttle.ts). */
    authThrottle: { perAddress: number; perKey: number; windowMs: number };
    /** Longest life of a cached API key row (src/http/api-key-cache.ts); 0 = no cache. */
    apiKeyCacheMs: number;
    /** A separate `host:port` for /metrics, or '' for the API listener. */
    metricsListen: string;
  };
  /** The outbound address policy's exceptions and the approved hosts for cat/prod base URLs. */
  outbound: { allow: readonly string[]; jpmBaseUrlHosts: readonly string[] };
  log: { level: string; format: 'json' | 'pretty' };
  queue: { prefix: string; concurrency: number };
  roles: readonly Role[];
  shutdownTimeoutMs: number;
  simulator: { host: string; port: number; pkiDir: string };
  jpm: { connectTimeoutMs: number; requestTimeoutMs: number };
  changeFeed: { retentionDays: number };
  /**
   * The search step (src/events/search-index.ts): change events per batch, its share while ingestion is busy, its lag
   * bound.
   */
  search: { batchSize: number; busyShare: number; maxLagSeconds: number };
  sync: { lookbackDays: number };
  /** Milestone emails: the From address and the SMTP server's CA file ('' = system CAs). SMTP_URL is a secret. */
  mail: { from: string; caFile: string };
}

export interface Secrets {
  databasePassword: string | undefined;
  masterKey: MasterKey;
  previousMasterKeys: readonly MasterKey[];
  usingDevMasterKey: boolean;
  /** Bearer token /metrics requires, when set. */
  metricsToken: string | undefined;
  /** SMTP server of milestone emails (may hold a password); undefined = emails off. */
  smtpUrl: string | undefined;
}

/** DATABASE_READ_URL on the same host, port and database as DATABASE_URL (the user may differ: still not a replica). */
function sameDatabase(e: { DATABASE_URL: string; DATABASE_READ_URL: string }): boolean {
  const where = (u: string) => {
    const url = new URL(u);
    return `${url.hostname.toLowerCase()}:${url.port || '5432'}${decodeURIComponent(url.pathname)}`;
  };
  return where(e.DATABASE_URL) === where(e.DATABASE_READ_URL);
}

export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

function readJson(name: string): Record<string, string> {
  const file = join(CONFIG_DIR, `${name}.json`);
  if (!existsSync(file)) {
    return {};
  }
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(parsed)) {
    if (!k.startsWith('_')) {
      out[k] = String(v);
    }
  }
  return out;
}

function formatIssues(issues: readonly z.core.$ZodIssue[], source: Record<string, string | undefined>): string[] {
  return issues.map((issue) => {
    const key = String(issue.path[0] ?? '(root)');
    const secret = (SECRET_KEYS as readonly string[]).includes(key);
    const value = source[key];
    // A URL or a node list may carry a password (`redis://:pw@…`, `pw@host:6379`): say what is wrong, not the value.
    const shown =
      secret || value === undefined || value.includes('@') || value.includes('://')
        ? ''
        : ` (got ${JSON.stringify(value)})`;
    return `${key}: ${issue.message}${shown}`;
  });
}

export function keyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 12);
}

/**
 * Parses the environment once: config/default.json < config/<NODE_ENV>.json < process env.
 * Throws a ConfigError naming every bad variable; never reads env anywhere else.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): { config: Config; secrets: Secrets } {
  const nodeEnv = env.NODE_ENV ?? 'development';
  const merged: Record<string, string | undefined> = {
    ...readJson('default'),
    ...readJson(nodeEnv),
    NODE_ENV: nodeEnv,
  };
  for (const key of ENV_KEYS) {
    if (env[key] !== undefined) {
      merged[key] = env[key];
    }
  }
  const secretSource: Record<string, string | undefined> = {};
  for (const key of SECRET_KEYS) {
    secretSource[key] = env[key] === '' ? undefined : env[key];
  }
  const parsed = envSchema.safeParse(merged);
  const parsedSecrets = secretsSchema.safeParse(secretSource);
  const problems = [
    ...(parsed.success ? [] : formatIssues(parsed.error.issues, merged)),
    ...(parsedSecrets.success ? [] : formatIssues(parsedSecrets.error.issues, secretSource)),
  ];
  // Read from the raw values, not the parsed ones: a problem elsewhere (a bad PORT) must not hide these, so one run
  // lists everything to fix.
  if (merged.NODE_ENV === 'production' && !secretSource.CREDENTIALS_MASTER_KEY) {
    problems.push('CREDENTIALS_MASTER_KEY: required in production (openssl rand -base64 32)');
  }
  if (secretSource.SMTP_URL && !merged.SMTP_FROM) {
    problems.push('SMTP_FROM: required when SMTP_URL is set (the From address of milestone emails)');
  }
  if (parsed.success && parsed.data.DATABASE_READ_URL !== '' && sameDatabase(parsed.data)) {
    problems.push(
      'DATABASE_READ_URL: names the same server and database as DATABASE_URL; set it to a streaming replica of it, or leave it empty',
    );
  }
  if (
    parsed.success &&
    parsed.data.REDIS_CLUSTER_NODES.length > 0 &&
    !/^\/?0?$/.test(new URL(parsed.data.REDIS_URL).pathname)
  ) {
    problems.push('REDIS_URL: a Redis Cluster has only database 0; drop the database number from the URL');
  }
  if (!parsed.success || !parsedSecrets.success || problems.length > 0) {
    throw new ConfigError(problems);
  }
  const e = parsed.data;
  const s = parsedSecrets.data;
  const master = s.CREDENTIALS_MASTER_KEY ? Buffer.from(s.CREDENTIALS_MASTER_KEY, 'base64') : DEV_MASTER_KEY;
  const config: Config = {
    env: e.NODE_ENV,
    database: {
      url: e.DATABASE_URL,
      poolMax: e.DB_POOL_MAX,
      poolWaitMs: e.DB_POOL_WAIT_MS,
      readUrl: e.DATABASE_READ_URL === '' ? undefined : e.DATABASE_READ_URL,
      readMaxWaitMs: e.DATABASE_READ_MAX_WAIT_MS,
    },
    redis: { url: e.REDIS_URL, clusterNodes: e.REDIS_CLUSTER_NODES },
    http: {
      port: e.PORT,
      host: e.HOST,
      corsOrigins: e.CORS_ORIGINS,
      publicBaseUrl: e.PUBLIC_BASE_URL,
      trustProxy: e.TRUST_PROXY,
      admission: {
        maxConcurrent: e.HTTP_MAX_CONCURRENT,
        maxQueue: e.HTTP_MAX_QUEUE,
        queueTimeoutMs: e.HTTP_QUEUE_TIMEOUT_MS,
      },
      authThrottle: {
        perAddress: e.AUTH_FAILURES_PER_ADDRESS,
        perKey: e.AUTH_FAILURES_PER_KEY,
        windowMs: e.AUTH_FAILURE_WINDOW_MS,
      },
      apiKeyCacheMs: e.API_KEY_CACHE_MS,
      metricsListen: e.METRICS_LISTEN,
    },
    outbound: { allow: e.OUTBOUND_ALLOW, jpmBaseUrlHosts: e.JPM_BASE_URL_HOSTS },
    log: { level: e.LOG_LEVEL, format: e.LOG_FORMAT },
    queue: { prefix: e.QUEUE_PREFIX, concurrency: e.WORKER_CONCURRENCY },
    roles: e.ROLES,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    simulator: { host: e.SIMULATOR_HOST, port: e.SIMULATOR_PORT, pkiDir: e.SIMULATOR_PKI_DIR },
    jpm: { connectTimeoutMs: e.JPM_CONNECT_TIMEOUT_MS, requestTimeoutMs: e.JPM_REQUEST_TIMEOUT_MS },
    changeFeed: { retentionDays: e.CHANGE_FEED_RETENTION_DAYS },
    search: {
      batchSize: e.SEARCH_INDEX_BATCH_SIZE,
      busyShare: e.SEARCH_INDEX_BUSY_SHARE,
      maxLagSeconds: e.SEARCH_INDEX_MAX_LAG_SECONDS,
    },
    sync: { lookbackDays: e.SYNC_LOOKBACK_DAYS },
    mail: { from: e.SMTP_FROM, caFile: e.SMTP_CA_FILE },
  };
  const secrets: Secrets = {
    databasePassword: s.DATABASE_PASSWORD,
    masterKey: { id: keyId(master), key: master },
    previousMasterKeys: s.CREDENTIALS_PREVIOUS_MASTER_KEYS.map((k) => {
      const key = Buffer.from(k, 'base64');
      return { id: keyId(key), key };
    }),
    usingDevMasterKey: !s.CREDENTIALS_MASTER_KEY,
    metricsToken: s.METRICS_TOKEN,
    smtpUrl: s.SMTP_URL,
  };
  return { config: deepFreeze(config), secrets: Object.freeze(secrets) };
}

/** A view of the config that is safe to log: credentials inside URLs are masked. */
export function redacted(config: Config): Record<string, unknown> {
  const mask = (u: string) => {
    try {
      const parsed = new URL(u);
      if (parsed.password) {
        parsed.password = '***';
      }
      return parsed.toString();
    } catch {
      return '***';
    }
  };
  return {
    ...config,
    database: {
      ...config.database,
      url: mask(config.database.url),
      readUrl: config.database.readUrl === undefined ? undefined : mask(config.database.readUrl),
    },
    redis: { ...config.redis, url: mask(config.redis.url) },
  };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) {
      deepFreeze(v);
    }
    Object.freeze(value);
  }
  return value;
}
