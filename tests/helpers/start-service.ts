import { spawn } from 'node:child_process';
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

/**
 * `npm start` as an operator runs it: `src/main/start.ts` on `databaseUrl`, the test Redis and a queue prefix of its
 * own, `LOG_LEVEL=info`, then `env`. Resolves when the process exits, or once it reports that it started (then it is
 * stopped with SIGTERM and `started` says so): a start that must fail never gets that far.
 */
export function startService(databaseUrl: string, env: Record<string, string>): Promise<StartRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['src/main/start.ts'], {
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
    let started = false;
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (!started && output.includes('jpm-sync started')) {
        started = true;
        child.kill('SIGTERM');
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, started, output }));
  });
}
