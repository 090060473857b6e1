import { ConfigError, loadConfig, redacted, type Config, type Secrets } from '../config/index.ts';
import { createDb, ensureDatabase } from '../storage/db.ts';
import { migrationStatus } from '../storage/migrator.ts';
import { feedXidsAhead } from '../events/change-feed.ts';
import { checkFeedDatabase, feedDatabaseAdvice } from '../events/feed-database.ts';
import { pingRedis } from '../shared/redis.ts';
import { initLogger, createLogger, type Logger } from '../shared/logger.ts';
import pg from 'pg';
import pino from 'pino';

export const EXIT_CONFIG = 2;
export const EXIT_DEPENDENCY = 3;

/**
 * Loads config or exits 2 with one message listing every problem (no stack trace), then sets up
 * the root logger. Every entry point starts here. CLI commands pass `logToStderr` so their stdout
 * carries only their output (`--json` stays parseable at any LOG_LEVEL).
 */
export function loadConfigOrExit(
  env: NodeJS.ProcessEnv = process.env,
  options: { logToStderr?: boolean } = {},
): { config: Config; secrets: Secrets; logger: Logger } {
  try {
    const { config, secrets } = loadConfig(env);
    initLogger({
      level: config.log.level,
      format: config.log.format,
      ...(options.logToStderr ? { destination: pino.destination({ dest: 2, sync: true }) } : {}),
    });
    const logger = createLogger('main');
    if (secrets.usingDevMasterKey && config.env !== 'test') {
      logger.warn('CREDENTIALS_MASTER_KEY is not set: using the built-in development key (never in production)');
    }
    logger.debug({ config: redacted(config) }, 'configuration loaded');
    return { config, secrets, logger };
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`jpm-sync: ${err.message}\nSee config/.env.example for every variable and its meaning.\n`);
      process.exit(EXIT_CONFIG);
    }
    throw err;
  }
}

export class DependencyError extends Error {}

/**
 * The migrations of this release not applied to the database yet (none when it is ahead: a release rolled back
 * runs on the newer schema). Read without creating anything.
 */
async function pendingMigrations(config: Config, secrets: Secrets): Promise<string[]> {
  const db = createDb({ url: config.database.url, password: secrets.databasePassword, poolMax: 1 });
  try {
    return (await migrationStatus(db)).filter((m) => !m.executedAt).map((m) => m.name);
  } finally {
    await db.destroy();
  }
}

/**
 * Stored xids ahead of the cluster (a database restored from a dump of a cluster further along; every xid-ordered
 * value counts, src/storage/xid-positions.repo.ts), or a database that is not the one the feed was recorded on
 * (another cluster, database or timeline: src/events/feed-database.ts): the operator's message, or undefined when
 * neither. The first start on a database records its identity.
 */
async function feedRestoreProblem(config: Config, secrets: Secrets): Promise<string | undefined> {
  const db = createDb({ url: config.database.url, password: secrets.databasePassword, poolMax: 1 });
  try {
    const u = new URL(config.database.url);
    const ahead = await feedXidsAhead(db);
    if (ahead) {
      return (
        `DATABASE_URL: ${u.host}${u.pathname} holds transaction ids up to ${ahead.stored} ` +
        `(${ahead.ahead.map((a) => a.what).join(', ')}), ahead of this Postgres cluster's next one (${ahead.next}): ` +
        'the database was restored from a dump of a cluster further along, and new changes and milestones would be ' +
        'ordered before the restored ones (feed consumers, webhooks, email notifications, text search and milestone ' +
        'pollers would skip them); run `jpm-sync change-feed reset --yes` before starting the service (README, ' +
        'Operations: after a database restore)'
      );
    }
    const check = await checkFeedDatabase(db, { recordIfNone: true });
    const log = createLogger('main');
    if (check.current !== null && check.current.system === null) {
      log.warn(
        'pg_control_system() is not executable by the database role: a restore into another cluster is detected only when the database oid differs (README, Operations: after a database restore)',
      );
    }
    if (check.recordedNow) {
      log.info({ database: check.current }, "change feed's database recorded");
    }
    const advice = feedDatabaseAdvice(check);
    return advice === undefined ? undefined : `DATABASE_URL: ${u.host}${u.pathname} is ${advice}`;
  } finally {
    await db.destroy();
  }
}

/**
 * Checks Postgres and (optionally) Redis before starting, with a message that says what to do. `migrated`: the
 * service's roles also need every migration of this release applied (they would fail at their first query), and no
 * stored xid ahead of the cluster and the database the feed was recorded on (`feedRestoreProblem`).
 */
export async function checkDependencies(
  config: Config,
  secrets: Secrets,
  options: { redis: boolean; createDb?: boolean; migrated?: boolean },
): Promise<void> {
  const problems: string[] = [];
  const dbUrl = new URL(config.database.url);
  try {
    if (options.createDb) {
      await ensureDatabase(config.database.url, secrets.databasePassword);
    }
    const client = new pg.Client({
      connectionString: config.database.url,
      password: secrets.databasePassword,
      connectionTimeoutMillis: 5_000,
    });
    await client.connect();
    await client.end();
    const pending = options.migrated ? await pendingMigrations(config, secrets) : [];
    if (pending.length > 0) {
      problems.push(
        `DATABASE_URL: ${pending.length} migration(s) of this release not applied to ${dbUrl.host}${dbUrl.pathname} ` +
          `(first: ${pending[0]}); run \`npm run migrate\` (\`jpm-sync migrate up\`) before starting the service`,
      );
    }
    const feedRestore =
      options.migrated && pending.length === 0 ? await feedRestoreProblem(config, secrets) : undefined;
    if (feedRestore) {
      problems.push(feedRestore);
    }
  } catch (err) {
    const code = (err as { code?: string }).code;
    // Postgres answered (an error with a SQLSTATE): it is running, so the hint is about what it refused.
    const answered = err instanceof pg.DatabaseError;
    const hint =
      code === '3D000'
        ? `the database does not exist: run \`npm run migrate\` (it creates it) or \`createdb ${dbUrl.pathname.slice(1)}\``
        : answered && code?.startsWith('28')
          ? 'Postgres refused the login: check the user name in DATABASE_URL, DATABASE_PASSWORD, and pg_hba.conf for this host'
          : answered
            ? 'Postgres is running but refused the connection; fix what it says'
            : 'start Postgres: `docker compose -f docker/compose.yml up -d postgres`, or locally `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`';
    problems.push(
      `DATABASE_URL: cannot connect to Postgres at ${dbUrl.host}${dbUrl.pathname} (${(err as Error).message}); ${hint}`,
    );
  }
  if (options.redis) {
    try {
      await pingRedis(config.redis, config.queue.prefix);
    } catch (err) {
      const u = new URL(config.redis.url);
      const cluster = config.redis.clusterNodes ?? [];
      problems.push(
        cluster.length > 0
          ? `REDIS_CLUSTER_NODES: cannot reach a healthy Redis Cluster through ${cluster.join(', ')} (${(err as Error).message}); ` +
              'check that the nodes are up and `redis-cli -h <node host> -p <node port> cluster info` says cluster_state:ok'
          : (err as Error).name === 'ReplyError'
            ? // Redis answered: it runs, and refused what REDIS_URL asks (its database number, user or password).
              `REDIS_URL: Redis at ${u.host} refused the connection (${(err as Error).message}); ` +
              'fix the database number, user or password in REDIS_URL'
            : `REDIS_URL: cannot reach Redis at ${u.host} (${(err as Error).message}); start it: ` +
              '`docker compose -f docker/compose.yml up -d redis`, or locally ' +
              '`redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no`',
      );
    }
  }
  if (problems.length > 0) {
    throw new DependencyError(problems.join('\n  '));
  }
}

export function exitOnDependencyError(err: unknown): never {
  if (err instanceof DependencyError) {
    process.stderr.write(`jpm-sync: a required service is not reachable or not ready:\n  ${err.message}\n`);
    process.exit(EXIT_DEPENDENCY);
  }
  throw err;
}
