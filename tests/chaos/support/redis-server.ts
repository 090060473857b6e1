import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort } from '../../helpers/free-port.ts';

/**
 * A private redis-server for one test (never the shared one on 6379: other engineers' tests use it),
 * without persistence, so a restart is what a crashed cache node looks like: every key is gone.
 */
export interface PrivateRedis {
  port: number;
  url: string;
  /** SIGKILLs the server (a crash) and waits until it is gone. */
  crash(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let proc: ChildProcess | undefined;
  const start = async () => {
    proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    });
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    for (let i = 0; ; i++) {
      try {
        await probe.connect();
        await probe.ping();
        probe.disconnect();
        return;
      } catch (err) {
        if (i > 100) {
          throw err;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };
  const crash = async () => {
    const p = proc;
    if (p && p.exitCode === null && p.signalCode === null) {
      const gone = new Promise((r) => p.once('exit', r));
      p.kill('SIGKILL');
      await gone;
    }
  };
  await start();
  return { port, url, crash, start, stop: crash };
}
