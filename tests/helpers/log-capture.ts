import { Writable } from 'node:stream';
import { initLogger } from '../../src/shared/logger.ts';

/**
 * Sends every log line of this test file's process (JSON, `level` and up) into the returned array,
 * so a test can assert what was and was not logged (no secret, the expected event).
 */
export function captureLogLines(level = 'debug'): string[] {
  const lines: string[] = [];
  initLogger({
    level,
    format: 'json',
    destination: new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        cb();
      },
    }),
  });
  return lines;
}
