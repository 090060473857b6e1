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
 * their node files in a temp dir, no persistence, a password on every node (`requirepass`, `masterauth`), joined by
 * `redis-cli --cluster create` (no replicas), and ready once every node says `cluster_state:ok`. Never the shared
 * Redis on 6379.
 */
export interface PrivateRedisCluster {
  /** `127.0.0.1:<port>` of every master, in start order. */
  nodes: string[];
  /** One direct (non-cluster) connection per node, for looking at what each master holds. */
  direct(): Redis[];
  /** The index of the master that serves `key`'s slot (CLUSTER KEYSLOT, CLUSTER SLOTS). */
  ownerOf(key: string): Promise<number>;
  /** `cluster_state` as node `index` reports it (`ok`, `fail`). */
  state(index: number): Promise<string>;
  /** SIGKILLs node `index` (a lost master); without replicas the cluster fails after the node timeout. */
  kill(index: number): Promise<void>;
  /** Starts nodes `indexes` again (empty) on their ports; resolves once the cluster is ok again. */
  restart(...indexes: number[]): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A port P such that P and its cluster bus port P + 10000 are both free on 127.0.0.1; P + 10000 stays below 32768,
 * where Linux's ephemeral range starts, so an outgoing connection cannot take a bus port between the check and a restart.
 */
async function freeClusterPort(taken: Set<number>): Promise<number> {
  const free = (port: number) =>
    new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
  for (let i = 0; i < 200; i++) {
    const port = 11_000 + Math.floor(Math.random() * 11_000);
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

/** Nodes call a silent peer failed after this long (Redis's default is 15 s; a test should not wait that long). */
const NODE_TIMEOUT_MS = 3_000;

export async function startRedisCluster(masters: number, password: string): Promise<PrivateRedisCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'redis-cluster-'));
  const taken = new Set<number>();
  const ports: number[] = [];
  for (let i = 0; i < masters; i++) {
    ports.push(await freeClusterPort(taken));
  }
  const procs: ChildProcess[] = [];
  const directs: Redis[] = [];
  const connection = (port: number) => {
    const r = new Redis({
      host: '127.0.0.1',
      port,
      lazyConnect: true,
      password,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    r.on('error', () => undefined);
    return r;
  };
  // What each node wrote last (its log goes to stdout), for the message when it does not come up.
  const output: string[] = [];
  // Its node file stays in `dir`, so a node started again on its port rejoins the cluster with its slots (and no data).
  const startNode = async (i: number) => {
    const port = ports[i]!;
    output[i] = '';
    let failed: Error | undefined;
    const p = spawn(
      'redis-server',
      [
        ...['--port', String(port), '--bind', '127.0.0.1', '--dir', dir],
        ...['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`)],
        ...['--cluster-node-timeout', String(NODE_TIMEOUT_MS), '--save', '', '--appendonly', 'no'],
        ...['--requirepass', password, '--masterauth', password],
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const keep = (chunk: Buffer) => {
      output[i] = (output[i] + chunk.toString()).slice(-4_000);
    };
    p.stdout.on('data', keep);
    p.stderr.on('data', keep);
    p.once('error', (err) => {
      failed = new Error(`redis cluster: cannot start redis-server (${err.message}); is it installed and on PATH?`);
    });
    procs[i] = p;
    directs[i]?.disconnect();
    directs[i] = connection(port);
    try {
      await untilTrue(`node ${port} up`, async () => {
        if (failed) {
          throw failed;
        }
        if (p.exitCode !== null) {
          throw new Error(`redis-server on port ${port} exited with code ${p.exitCode}`);
        }
        const r = connection(port);
        try {
          await r.connect();
          return (await r.ping()) === 'PONG';
        } finally {
          r.disconnect();
        }
      });
    } catch (err) {
      throw failed ?? new Error(`${(err as Error).message}; its output:\n${output[i]}`, { cause: err });
    }
    await directs[i].connect();
  };
  // Every node must know the whole slot map (gossip takes a moment after create or a restart).
  const untilOk = () =>
    untilTrue('cluster_state:ok on every node', async () => {
      const infos = await Promise.all(directs.map((r) => r.cluster('INFO')));
      return infos.every((i) => /cluster_state:ok/.test(String(i)) && /cluster_slots_ok:16384/.test(String(i)));
    });
  // A test process that dies (a timeout, a kill, Ctrl-C) must not leave cluster nodes behind.
  const killAll = () => procs.forEach((p) => p.exitCode === null && p.signalCode === null && p.kill('SIGKILL'));
  const onSignal = (signal: NodeJS.Signals) => {
    killAll();
    process.kill(process.pid, signal);
  };
  process.once('exit', killAll);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const kill = async (p: ChildProcess | undefined) => {
    if (p && p.exitCode === null && p.signalCode === null) {
      const gone = new Promise((r) => p.once('exit', r));
      p.kill('SIGKILL');
      await gone;
    }
  };
  const stop = async () => {
    process.off('exit', killAll);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const r of directs) {
      r.disconnect();
    }
    await Promise.all(procs.map(kill));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < masters; i++) {
      await startNode(i);
    }
    const nodes = ports.map((p) => `127.0.0.1:${p}`);
    await run(
      'redis-cli',
      [
        '-a',
        password,
        '--no-auth-warning',
        '--cluster',
        'create',
        ...nodes,
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ],
      { timeout: 30_000 },
    );
    await untilOk();
    return {
      nodes,
      direct: () => directs,
      async ownerOf(key) {
        const up = directs.find((r) => r.status === 'ready')!;
        const slot = Number(await up.cluster('KEYSLOT', key));
        const ranges = await up.cluster('SLOTS');
        const range = ranges.find(([from, to]) => slot >= from && slot <= to)!;
        return ports.indexOf(Number(range[2]![1]));
      },
      async state(index) {
        return /cluster_state:(\w+)/.exec(String(await directs[index]!.cluster('INFO')))?.[1] ?? 'unknown';
      },
      async kill(index) {
        directs[index]?.disconnect();
        await kill(procs[index]);
      },
      async restart(...indexes) {
        for (const index of indexes) {
          await startNode(index);
        }
        await untilOk();
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
