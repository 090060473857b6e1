import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';

const run = promisify(execFile);

/**
 * A private Redis Cluster for one test file: `masters` redis-servers with cluster mode on, on free loopback ports,
 * their node files in a temp dir, no persistence, joined by `redis-cli --cluster create` (no replicas), and ready
 * once every node says `cluster_state:ok`. Never the shared Redis on 6379.
 */
export interface PrivateRedisCluster {
  /** `127.0.0.1:<port>` of every master, in start order. */
  nodes: string[];
  /** One direct (non-cluster) connection per node, for looking at what each master holds. */
  direct(): Redis[];
  stop(): Promise<void>;
}

/** A port P such that P and its cluster bus port P + 10000 are both free on 127.0.0.1. */
async function freeClusterPort(taken: Set<number>): Promise<number> {
  const free = (port: number) =>
    new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
  for (let i = 0; i < 200; i++) {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    if (!taken.has(port) && (await free(port)) && (await free(port + 10_000))) {
      taken.add(port);
      return port;
    }
  }
  throw new Error('no free port pair for a cluster node');
}

async function untilTrue(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) {
      return;
    }
    if (Date.now() > deadline) {
      throw new Error(`redis cluster: ${what} not reached within ${timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function startRedisCluster(masters = 3): Promise<PrivateRedisCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'redis-cluster-'));
  const taken = new Set<number>();
  const ports: number[] = [];
  for (let i = 0; i < masters; i++) {
    ports.push(await freeClusterPort(taken));
  }
  const procs: ChildProcess[] = [];
  const directs: Redis[] = [];
  // A test process that dies (a timeout, a kill) must not leave cluster nodes behind.
  const killAll = () => procs.forEach((p) => p.exitCode === null && p.signalCode === null && p.kill('SIGKILL'));
  process.once('exit', killAll);
  const stop = async () => {
    process.off('exit', killAll);
    for (const r of directs) {
      r.disconnect();
    }
    await Promise.all(
      procs.map(async (p) => {
        if (p.exitCode === null && p.signalCode === null) {
          const gone = new Promise((r) => p.once('exit', r));
          p.kill('SIGKILL');
          await gone;
        }
      }),
    );
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (const port of ports) {
      procs.push(
        spawn(
          'redis-server',
          [
            '--port',
            String(port),
            '--bind',
            '127.0.0.1',
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            join(dir, `nodes-${port}.conf`),
            '--save',
            '',
            '--appendonly',
            'no',
            '--dir',
            dir,
          ],
          { stdio: 'ignore' },
        ),
      );
      const r = new Redis({
        host: '127.0.0.1',
        port,
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      r.on('error', () => undefined);
      directs.push(r);
    }
    const ping = async (port: number) => {
      const r = new Redis({
        host: '127.0.0.1',
        port,
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      r.on('error', () => undefined);
      try {
        await r.connect();
        return (await r.ping()) === 'PONG';
      } finally {
        r.disconnect();
      }
    };
    for (const port of ports) {
      await untilTrue(`node ${port} up`, () => ping(port));
    }
    const nodes = ports.map((p) => `127.0.0.1:${p}`);
    await run('redis-cli', ['--cluster', 'create', ...nodes, '--cluster-replicas', '0', '--cluster-yes'], {
      timeout: 30_000,
    });
    for (const r of directs) {
      await r.connect();
    }
    // Every node must know the whole slot map (gossip takes a moment after create).
    await untilTrue('cluster_state:ok on every node', async () => {
      const infos = await Promise.all(directs.map((r) => r.cluster('INFO')));
      return infos.every((i) => /cluster_state:ok/.test(String(i)) && /cluster_slots_ok:16384/.test(String(i)));
    });
    return { nodes, direct: () => directs, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
