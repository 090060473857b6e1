import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/index.ts';

describe('loadConfig', () => {
  it('works with no variables set (defaults reach the local Postgres and Redis)', () => {
    const { config, secrets } = loadConfig({ NODE_ENV: 'test' });
    expect(config.database.url).toBe('postgres://postgres@127.0.0.1:5432/jpm_sync');
    expect(config.redis.url).toBe('redis://127.0.0.1:6379');
    expect(config.queue.prefix).toBe('{jpm-sync}');
    expect(config.roles).toEqual(['api', 'worker', 'scheduler']);
    expect(secrets.usingDevMasterKey).toBe(true);
    expect(Object.isFrozen(config.http)).toBe(true);
  });

  it('lists every problem at once', () => {
    try {
      loadConfig({
        NODE_ENV: 'test',
        DATABASE_URL: 'nope',
        PORT: 'x',
        ROLES: 'api,bogus',
        QUEUE_PREFIX: 'no-tag',
        CREDENTIALS_MASTER_KEY: 'short',
      });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const problems = (err as ConfigError).problems.join('\n');
      for (const key of ['DATABASE_URL', 'PORT', 'ROLES', 'QUEUE_PREFIX', 'CREDENTIALS_MASTER_KEY']) {
        expect(problems).toContain(key);
      }
      // A secret's value is never echoed back.
      expect(problems).not.toContain('short');
    }
  });

  it('lists the problems that depend on another variable too, whatever else is wrong', () => {
    // A first run in production with a mail server and a short metrics token: one pass must name all three fixes.
    const problemsOf = (env: Record<string, string>) => {
      try {
        loadConfig(env);
        return expect.unreachable();
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as ConfigError).problems.join('\n');
      }
    };
    const problems = problemsOf({
      NODE_ENV: 'production',
      SMTP_URL: 'smtp://mail.example.com:587',
      METRICS_TOKEN: 'short',
      PORT: 'x',
    });
    for (const key of [
      'CREDENTIALS_MASTER_KEY: required in production',
      'SMTP_FROM: required',
      'METRICS_TOKEN',
      'PORT',
    ]) {
      expect(problems).toContain(key);
    }
  });

  it('never echoes a value that may hold a password (a Redis URL, a node with user info)', () => {
    const problemsOf = (env: Record<string, string>) => {
      try {
        loadConfig({ NODE_ENV: 'test', ...env });
      } catch (err) {
        return (err as ConfigError).problems.join('\n');
      }
      return '';
    };
    // A password in front of a seed node is refused, not kept (it would be logged with the node list).
    for (const nodes of ['hunter2@10.0.0.1:7000', ':hunter2@redis-a:7000', 'redis://:hunter2@10.0.0.1:7000']) {
      const problems = problemsOf({ REDIS_CLUSTER_NODES: nodes });
      expect(problems, nodes).toMatch(/^REDIS_CLUSTER_NODES: must list seed nodes as host:port/);
      expect(problems, nodes).not.toContain('hunter2');
    }
    const badUrl = problemsOf({ REDIS_URL: 'http://:hunter2@redis.internal:6379' });
    expect(badUrl).toMatch(/^REDIS_URL: must be a URL like/);
    expect(badUrl).not.toContain('hunter2');
    // Values without user info are still shown, to help.
    expect(problemsOf({ REDIS_CLUSTER_NODES: '10.0.0.1' })).toContain('(got "10.0.0.1")');
    expect(problemsOf({ REDIS_CLUSTER_NODES: 'redis_a.internal:7000,[::1]:7001' })).toBe('');
  });

  it('requires a real master key in production', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/CREDENTIALS_MASTER_KEY: required in production/);
    const key = Buffer.alloc(32, 7).toString('base64');
    const { secrets } = loadConfig({ NODE_ENV: 'production', CREDENTIALS_MASTER_KEY: key });
    expect(secrets.usingDevMasterKey).toBe(false);
    expect(secrets.masterKey.id).toMatch(/^[0-9a-f]{12}$/);
  });

  it('parses booleans and roles explicitly', () => {
    const { config } = loadConfig({ NODE_ENV: 'test', ROLES: ' worker , scheduler' });
    expect(config.roles).toEqual(['worker', 'scheduler']);
  });

  it("reads the search step's yield settings: defaults, a fraction in (0, 1], whole seconds", () => {
    expect(loadConfig({ NODE_ENV: 'test' }).config.search).toEqual({
      batchSize: 5000,
      busyShare: 0.25,
      maxLagSeconds: 600,
    });
    expect(
      loadConfig({ NODE_ENV: 'test', SEARCH_INDEX_BUSY_SHARE: '1', SEARCH_INDEX_MAX_LAG_SECONDS: '60' }).config.search,
    ).toMatchObject({ busyShare: 1, maxLagSeconds: 60 });
    for (const bad of ['0', '1.5', '-0.5', 'half', '']) {
      expect(() => loadConfig({ NODE_ENV: 'test', SEARCH_INDEX_BUSY_SHARE: bad })).toThrow(/SEARCH_INDEX_BUSY_SHARE/);
    }
    expect(() => loadConfig({ NODE_ENV: 'test', SEARCH_INDEX_MAX_LAG_SECONDS: '0' })).toThrow(
      /SEARCH_INDEX_MAX_LAG_SECONDS/,
    );
  });

  it('`npm start` with a bad DATABASE_URL exits 2 with one message and no stack', () => {
    let status = 0;
    let stderr = '';
    try {
      execFileSync(process.execPath, ['src/main/start.ts'], {
        env: { ...process.env, NODE_ENV: 'test', DATABASE_URL: 'nope', PORT: '-1' },
        encoding: 'utf8',
        stdio: 'pipe',
      });
    } catch (err) {
      status = (err as { status: number }).status;
      stderr = (err as { stderr: string }).stderr;
    }
    expect(status).toBe(2);
    expect(stderr).toContain('DATABASE_URL');
    expect(stderr).toContain('PORT');
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it('refuses values that used to crash the start with a stack trace, or pass unchecked, naming the variable', () => {
    const problemsOf = (env: Record<string, string>) => {
      try {
        loadConfig({ NODE_ENV: 'test', ...env });
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as ConfigError).problems.join('\n');
      }
      return '';
    };
    for (const [key, value] of [
      ['TRUST_PROXY', 'garbage'],
      ['TRUST_PROXY', 'true'],
      ['TRUST_PROXY', 'loopback, 10.0.0.0/33'],
      ['METRICS_LISTEN', '127.0.0.1:99999'],
      ['DATABASE_URL', 'postgres://postgres@127.0.0.1:5432/%E0%A4%A'],
      ['REDIS_URL', 'redis://127.0.0.1:6379/x'],
      ['REDIS_URL', 'redis://127.0.0.1:6379/1/2'],
      ['DATABASE_READ_URL', 'postgres://replica:5432/%E0%A4%A'],
      ['PUBLIC_BASE_URL', 'jpm-sync.example.com'],
      ['PUBLIC_BASE_URL', 'ftp://jpm-sync.example.com'],
    ] as const) {
      expect(problemsOf({ [key]: value }), `${key}=${value}`).toMatch(new RegExp(`^${key}: `));
    }
    // Text that is no URL at all: one line, from the URL check.
    expect(problemsOf({ REDIS_URL: 'nope' })).toMatch(/^REDIS_URL: must be a URL like [^\n]*$/);
    expect(problemsOf({ DATABASE_URL: 'nope' })).toMatch(/^DATABASE_URL: must be a URL like [^\n]*$/);
    for (const [key, value] of [
      ['TRUST_PROXY', ''],
      ['TRUST_PROXY', '2'],
      ['TRUST_PROXY', 'loopback, 10.0.0.0/8,fd00::/8, 192.168.1.1, uniquelocal,linklocal'],
      ['TRUST_PROXY', '10.0.0.0/255.0.0.0'],
      ['METRICS_LISTEN', '[::1]:9464'],
      ['REDIS_URL', 'redis://127.0.0.1:6379/3'],
      ['REDIS_URL', 'rediss://:pw@redis.internal:6380/'],
      ['PUBLIC_BASE_URL', 'https://jpm-sync.example.com/base'],
    ] as const) {
      expect(problemsOf({ [key]: value }), `${key}=${value}`).toBe('');
    }
  });

  it('`npm start` with a TRUST_PROXY Express cannot read exits 2 naming it, no stack', () => {
    let status = 0;
    let stderr = '';
    try {
      execFileSync(process.execPath, ['src/main/start.ts'], {
        env: { ...process.env, NODE_ENV: 'test', TRUST_PROXY: 'garbage', DATABASE_READ_URL: 'postgres://r/%E0%A4%A' },
        encoding: 'utf8',
        stdio: 'pipe',
        timeout: 30_000,
      });
    } catch (err) {
      status = (err as { status: number }).status;
      stderr = (err as { stderr: string }).stderr;
    }
    expect(status, stderr).toBe(2);
    expect(stderr).toContain('TRUST_PROXY');
    expect(stderr).toContain('DATABASE_READ_URL');
    expect(stderr).not.toMatch(/\n\s+at /);
  });
});
