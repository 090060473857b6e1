import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/**
 * Real product processes (`node src/main/start.ts`, one role each) for the cluster tests and benchmarks: start N of a
 * role with an environment, SIGTERM / SIGKILL / replace them, and keep every line they print (pino JSON) for the
 * error and secret scans. A process counts as started when it logs `jpm-sync started` (so LOG_LEVEL must be info or
 * lower); an api process also reports the port it listens on. `stopAll()` (call it from `afterAll`) SIGKILLs whatever
 * is still running, so a failed test leaves no process behind, and nothing starts after it; a process also exits
 * when the process that started it dies (exit-with-parent.ts), so a killed test run leaves no orphan either.
 */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const NODE = join(ROOT, 'node_modules', '.bin', 'node');
const SHIFTED_CLOCK = join(ROOT, 'tests', 'cluster', 'support', 'shifted-clock.ts');
const EXIT_WITH_PARENT = join(ROOT, 'tests', 'cluster', 'support', 'exit-with-parent.ts');

export type ProcessRole = 'api' | 'worker' | 'scheduler';

export interface ProductProcess {
  /** e.g. `worker-2` (the second worker started, replacements count on). */
  name: string;
  role: ProcessRole;
  pid: number;
  /** The api role's port (undefined for other roles). */
  port: number | undefined;
  /** Every line printed to stdout and stderr, in order. */
  lines: string[];
  /** Resolves with how the process ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Not yet signalled to stop (nor exited): the process to send new work to. */
  running(): boolean;
}

export interface StartOptions {
  /** Environment of the product (DATABASE_URL, REDIS_URL, QUEUE_PREFIX, …); ROLES is set from the role. */
  env: Record<string, string>;
  /** Variables of one role on top of `env` (e.g. WORKER_CONCURRENCY, DB_POOL_MAX for workers). */
  roleEnv?: Partial<Record<ProcessRole, Record<string, string>>>;
  /** Moves the processes' wall clock by this much (`shifted-clock.ts`); 0 = the real clock. */
  clockOffsetMs?: number;
  /** Longest wait for `jpm-sync started` (default 60 s). */
  readyTimeoutMs?: number;
}

interface Entry {
  proc: ChildProcess;
  info: ProductProcess;
  signalled: boolean;
}

export class ProcessGroup {
  readonly #options: StartOptions;
  readonly #entries: Entry[] = [];
  readonly #counts = new Map<ProcessRole, number>();
  /** Set by `stopAll()`: nothing starts after it (a start still under way is killed as it begins). */
  #closed = false;

  constructor(options: StartOptions) {
    this.#options = options;
  }

  /** Every process ever started by this group (stopped ones too), in start order. */
  get all(): readonly ProductProcess[] {
    return this.#entries.map((e) => e.info);
  }

  /** Processes of `role` still running. */
  running(role?: ProcessRole): ProductProcess[] {
    return this.all.filter((p) => p.running() && (role === undefined || p.role === role));
  }

  /** Every line of every process (for the scans); each process's `lines` keeps its own apart. */
  allLines(): string[] {
    return this.all.flatMap((p) => p.lines);
  }

  /** Starts `n` processes of `role` at once; resolves when all have started. */
  async start(role: ProcessRole, n = 1): Promise<ProductProcess[]> {
    return Promise.all(Array.from({ length: n }, () => this.#startOne(role)));
  }

  /** SIGTERM: waits for the graceful exit (the shutdown timeout bounds it). */
  async stop(p: ProductProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.#signal(p, 'SIGTERM');
    return p.exited;
  }

  /** SIGKILL: no shutdown at all (locks and connections die with the process). */
  async kill(p: ProductProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.#signal(p, 'SIGKILL');
    return p.exited;
  }

  /**
   * Stops `p` (SIGTERM, or SIGKILL) and starts a process of the same role in its place, both at once (as a supervisor
   * or a rolling deploy with one spare does): resolves when `p` has exited and its replacement has started.
   */
  async replace(
    p: ProductProcess,
    how: 'SIGTERM' | 'SIGKILL' = 'SIGTERM',
  ): Promise<{ exit: { code: number | null; signal: NodeJS.Signals | null }; next: ProductProcess }> {
    const [exit, [next]] = await Promise.all([how === 'SIGTERM' ? this.stop(p) : this.kill(p), this.start(p.role)]);
    return { exit, next: next! };
  }

  /** Writes each process's lines to `<dir>/<name>.log` (for a look after a failed run). */
  async writeLogs(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
    for (const p of this.all) {
      await writeFile(join(dir, `${p.name}.log`), `${p.lines.join('\n')}\n`);
    }
  }

  /** SIGKILLs every process still running and waits for them (afterAll). */
  async stopAll(): Promise<void> {
    this.#closed = true;
    for (const e of this.#entries) {
      if (e.proc.exitCode === null && e.proc.signalCode === null) {
        e.proc.kill('SIGKILL');
      }
    }
    await Promise.all(this.#entries.map((e) => e.info.exited));
  }

  #signal(p: ProductProcess, signal: NodeJS.Signals): void {
    const e = this.#entry(p);
    e.signalled = true;
    e.proc.kill(signal);
  }

  #entry(p: ProductProcess): Entry {
    const e = this.#entries.find((x) => x.info === p);
    if (!e) {
      throw new Error(`${p.name} is not a process of this group`);
    }
    return e;
  }

  async #startOne(role: ProcessRole): Promise<ProductProcess> {
    if (this.#closed) {
      throw new Error(`the process group is stopped: ${role} not started`);
    }
    const n = (this.#counts.get(role) ?? 0) + 1;
    this.#counts.set(role, n);
    const offset = this.#options.clockOffsetMs ?? 0;
    const args = [
      '--import',
      EXIT_WITH_PARENT,
      ...(offset === 0 ? [] : ['--import', SHIFTED_CLOCK]),
      join(ROOT, 'src', 'main', 'start.ts'),
    ];
    const proc = spawn(NODE, args, {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        ...this.#options.env,
        ...this.#options.roleEnv?.[role],
        // Node's compile cache (keyed by content): replacements, and later runs, start faster.
        NODE_COMPILE_CACHE: join(tmpdir(), 'jpm-sync-node-compile-cache'),
        ROLES: role,
        ...(offset === 0 ? {} : { JPM_SYNC_TEST_CLOCK_OFFSET_MS: String(offset) }),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (proc.pid === undefined) {
      throw new Error(`could not start ${role}`);
    }
    let ended = false;
    const lines: string[] = [];
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      proc.once('exit', (code, signal) => {
        ended = true;
        resolve({ code, signal });
      }),
    );
    const info: ProductProcess = {
      name: `${role}-${n}`,
      role,
      pid: proc.pid,
      port: undefined,
      lines,
      exited,
      running: () => !ended && !entry.signalled,
    };
    const entry: Entry = { proc, info, signalled: false };
    this.#entries.push(entry);
    const started = new Promise<void>((resolve, reject) => {
      const onLine = (line: string) => {
        lines.push(line);
        if (!line.startsWith('{')) {
          return;
        }
        try {
          const o = JSON.parse(line) as { msg?: string; port?: number };
          if (o.msg === 'api listening' && typeof o.port === 'number') {
            info.port = o.port;
          }
          if (o.msg === 'jpm-sync started') {
            resolve();
          }
        } catch {
          // not JSON: kept as it is for the scans
        }
      };
      createInterface({ input: proc.stdout }).on('line', onLine);
      createInterface({ input: proc.stderr }).on('line', onLine);
      void exited.then(({ code, signal }) =>
        reject(new Error(`${info.name} exited before it started (${code ?? signal}):\n${lines.slice(-20).join('\n')}`)),
      );
    });
    const timeoutMs = this.#options.readyTimeoutMs ?? 60_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        started,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`${info.name} did not start within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
    return info;
  }
}
