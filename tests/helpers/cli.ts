import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** `jpm-sync …` against the database at `url`, as an operator runs it (another process): exit code and output. */
export async function cliAgainst(
  url: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['src/main/cli.ts', ...args], {
      env: { PATH: process.env.PATH, NODE_ENV: 'test', DATABASE_URL: url, LOG_LEVEL: 'silent' },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
