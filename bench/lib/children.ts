/** Starting and stopping the benchmark's child processes (simulator, worker, HTTP servers). */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import type { SimChildMessage, SimChildOptions } from './sim-child.ts';
import { NODE, ROOT } from './env.ts';

export interface Child {
  pid: number;
  process: ChildProcess;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
  stop(graceMs?: number): Promise<void>;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve();
  }
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

const running = new Set<ChildProcess>();

/** Kills every child still running (the runner's exit path). */
export function killChildren(): void {
  for (const c of running) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGKILL');
    }
  }
}

function track(child: ChildProcess): Child {
  running.add(child);
  child.once('exit', () => running.delete(child));
  return {
    pid: child.pid ?? -1,
    process: child,
    async stop(graceMs = 30_000) {
      if (child.exitCode !== null || child.signalCode !== null) {
        return;
      }
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited(child);
      clearTimeout(timer);
    },
  };
}

/**
 * Spawns `bench/lib/<script>` with `env` added, and resolves once it prints `ready` on stdout.
 * Further stdout lines go to `onLine`; stderr is passed through.
 */
export async function spawnReady(
  script: string,
  env: Record<string, string>,
  onLine?: (line: string) => void,
  nodeArgs: string[] = [],
): Promise<Child> {
  const child = spawn(NODE, [...nodeArgs, join(ROOT, 'bench', 'lib', script)], {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: 'production', TZ: 'UTC', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const handle = track(child);
  await new Promise<void>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    let ready = false;
    lines.on('line', (l) => {
      if (!ready && l === 'ready') {
        ready = true;
        resolve();
      } else {
        onLine?.(l);
      }
    });
    child.once('exit', (code, signal) => {
      if (!ready) {
        reject(new Error(`${script} exited before it was ready (${code ?? signal})`));
      }
    });
  });
  return handle;
}

/**
 * Spawns `node <args>` (e.g. the service's own `src/main/start.ts`) with `env` added and resolves once a stdout line
 * passes `isReady`. Every stdout line goes to `onLine` (drained either way); stderr is passed through.
 */
export async function spawnNode(
  args: string[],
  env: Record<string, string>,
  isReady: (line: string) => boolean,
  onLine?: (line: string) => void,
  readyTimeoutMs = 60_000,
): Promise<Child> {
  const child = spawn(NODE, args, {
    cwd: ROOT,
    env: { ...process.env, TZ: 'UTC', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const handle = track(child);
  let timer: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      let ready = false;
      // A process that never reports its start fails the benchmark instead of hanging it.
      timer = setTimeout(() => {
        if (!ready) {
          reject(new Error(`node ${args.join(' ')} did not report ready within ${readyTimeoutMs} ms`));
        }
      }, readyTimeoutMs);
      createInterface({ input: child.stdout }).on('line', (l) => {
        onLine?.(l);
        if (!ready && isReady(l)) {
          ready = true;
          resolve();
        }
      });
      child.once('exit', (code, signal) => {
        if (!ready) {
          reject(new Error(`node ${args.join(' ')} exited before it was ready (${code ?? signal})`));
        }
      });
    });
  } catch (err) {
    await handle.stop(5_000);
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return handle;
}

export interface SimChild extends Child {
  info: Extract<SimChildMessage, { type: 'ready' }>;
  stats(): Promise<Extract<SimChildMessage, { type: 'stats' }>['stats']>;
}

export async function spawnSimulator(options: SimChildOptions): Promise<SimChild> {
  const child = spawn(NODE, [join(ROOT, 'bench', 'lib', 'sim-child.ts')], {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: 'production', TZ: 'UTC', BENCH_SIM: JSON.stringify(options) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const handle = track(child);
  const info = await new Promise<Extract<SimChildMessage, { type: 'ready' }>>((resolve, reject) => {
    const onMessage = (m: SimChildMessage) => {
      if (m.type === 'ready') {
        child.off('message', onMessage);
        resolve(m);
      }
    };
    child.on('message', onMessage);
    child.once('exit', (code, signal) => reject(new Error(`simulator exited before it was ready (${code ?? signal})`)));
  });
  return {
    ...handle,
    info,
    stats() {
      return new Promise((resolve) => {
        const onMessage = (m: SimChildMessage) => {
          if (m.type === 'stats') {
            child.off('message', onMessage);
            resolve(m.stats);
          }
        };
        child.on('message', onMessage);
        child.send({ type: 'stats' });
      });
    },
    async stop() {
      child.disconnect();
      await handle.stop(5_000);
    },
  };
}

/** Spawns an HTTP server script (stdout discarded) and resolves with its port once it reports `ready` over IPC. */
export async function spawnServer(script: string, env: Record<string, string>): Promise<Child & { port: number }> {
  const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  const child = spawn(NODE, [...prof, join(ROOT, 'bench', 'lib', script)], {
    cwd: ROOT,
    env: { ...process.env, TZ: 'UTC', ...env },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const handle = track(child);
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { type?: string; port?: number }) =>
      m.type === 'ready' && m.port ? resolve(m.port) : reject(new Error(`${script}: unexpected message`)),
    );
    child.once('exit', (code, signal) => reject(new Error(`${script} exited before it was ready (${code ?? signal})`)));
  });
  return { ...handle, port };
}
