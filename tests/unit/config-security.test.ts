import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/index.ts';

describe('security settings', () => {
  it('allows no internal address in production and loopback explicitly in development and test', () => {
    expect(
      loadConfig({ NODE_ENV: 'production', CREDENTIALS_MASTER_KEY: Buffer.alloc(32, 1).toString('base64') }).config
        .outbound,
    ).toEqual({ allow: [], jpmBaseUrlHosts: [] });
    expect(loadConfig({ NODE_ENV: 'development' }).config.outbound.allow).toEqual(['127.0.0.0/8', '::1', 'localhost']);
    expect(
      loadConfig({
        NODE_ENV: 'test',
        OUTBOUND_ALLOW: ' 10.1.0.0/16 , hooks.internal ',
        JPM_BASE_URL_HOSTS: 'jpm-egress.corp.example',
      }).config.outbound,
    ).toEqual({ allow: ['10.1.0.0/16', 'hooks.internal'], jpmBaseUrlHosts: ['jpm-egress.corp.example'] });
  });

  it('parses admission, throttling and metrics settings, and refuses bad ones without echoing the token', () => {
    const { config, secrets } = loadConfig({
      NODE_ENV: 'test',
      HTTP_MAX_CONCURRENT: '8',
      HTTP_MAX_QUEUE: '0',
      HTTP_QUEUE_TIMEOUT_MS: '500',
      DB_POOL_WAIT_MS: '1500',
      METRICS_LISTEN: '127.0.0.1:9464',
      METRICS_TOKEN: 'a-long-enough-metrics-token',
      TRUST_PROXY: 'loopback',
    });
    expect(config.http.admission).toEqual({ maxConcurrent: 8, maxQueue: 0, queueTimeoutMs: 500 });
    expect(config.database.poolWaitMs).toBe(1500);
    expect(config.http).toMatchObject({ metricsListen: '127.0.0.1:9464', trustProxy: 'loopback' });
    expect(secrets.metricsToken).toBe('a-long-enough-metrics-token');
    expect(JSON.stringify(config)).not.toContain('a-long-enough-metrics-token');
    try {
      loadConfig({
        NODE_ENV: 'test',
        METRICS_LISTEN: 'nowhere',
        METRICS_TOKEN: 'short-token',
        HTTP_MAX_CONCURRENT: '0',
      });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const problems = (err as ConfigError).problems.join('\n');
      for (const key of ['METRICS_LISTEN', 'METRICS_TOKEN', 'HTTP_MAX_CONCURRENT']) {
        expect(problems).toContain(key);
      }
      expect(problems).not.toContain('short-token');
    }
  });

  it('bounds the API key cache at a minute (a backstop: revocations arrive by notification)', () => {
    expect(loadConfig({ NODE_ENV: 'test', API_KEY_CACHE_MS: '60000' }).config.http.apiKeyCacheMs).toBe(60_000);
    expect(loadConfig({ NODE_ENV: 'test', API_KEY_CACHE_MS: '0' }).config.http.apiKeyCacheMs).toBe(0);
    expect(() => loadConfig({ NODE_ENV: 'test', API_KEY_CACHE_MS: '60001' })).toThrow(/API_KEY_CACHE_MS/);
  });
});
