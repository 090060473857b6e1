import { spawn, type ChildProcess } from 'node:child_process';
import { testQueuePrefix } from './db.ts';
import { REDIS_URL } from './env.ts';

export interface StartRun {
  /** The exit status; when the process reported that it started it was stopped, so this is then the stop's. */
  code: number | null;
  /** Whether the process reported `jpm-sync started` (then it was sent SIGTERM). */
  started: boolean;
  /** stdout and stderr as written. */
  output: string;
}

export interface RunningService {
  proc: ChildProcess;
  /** stdout and stderr so far, as written. */
  readonly output: string;
  /** The exit status, once the process has exited. */
  exited: Promise<number | null>;
}

/**
 * `npm start` as an operator runs it: `src/main/start.ts` on `databaseUrl`, the test Redis and a queue prefix of its
 * own, `LOG_LEVEL=info`, then `env` (which may set any of them).
 */
export function spawnService(databaseUrl: string, env: Record<string, string>): RunningService {
  const proc = spawn(process.execPath, ['src/main/start.ts'], {
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'test',
      DATABASE_URL: databaseUrl,
      REDIS_URL,
      QUEUE_PREFIX: testQueuePrefix(),
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  proc.stdout.on('data', (c: Buffer) => void (output += c.toString()));
  proc.stderr.on('data', (c: Buffer) => void (output += c.toString()));
  const exited = new Promise<number | null>((resolve, reject) => {
    proc.once('error', reject);
    proc.once('exit', (code) => resolve(code));
  });
  return {
    proc,
    get output() {
      return output;
    },
    exited,
  };
}

/**
 * `spawnService`, resolving when the process exits, or once it reports that it started (then it is stopped with
 * SIGTERM and `started` says so): a start that must fail never gets that far.
 */
export async function startService(databaseUrl: string, env: Record<string, string>): Promise<StartRun> {
  const svc = spawnService(databaseUrl, env);
  let started = false;
  const watch = () => {
    if (!started && svc.output.includes('jpm-sync started')) {
      started = true;
      svc.proc.kill('SIGTERM');
    }
  };
  svc.proc.stdout!.on('data', watch);
  svc.proc.stderr!.on('data', watch);
  const code = await svc.exited;
  return { code, started, output: svc.output };
}
