import { parseArgs } from 'node:util';
import { SYNC_MODES, type SyncRequest } from '../domain/types.ts';
import { createQueues, getRun, triggerSync, type ProducerDeps, type RunView } from '../scheduler/index.ts';
import { ValidationError } from '../shared/errors.ts';
import { isUuid } from '../shared/ids.ts';
import { createLogger } from '../shared/logger.ts';
import { isIsoDate } from '../shared/time.ts';
import { createDb } from '../storage/db.ts';
import { checkDependencies, EXIT_DEPENDENCY, exitOnDependencyError, loadConfigOrExit } from './bootstrap.ts';
import { expectedFailure, registerCommand } from './commands.ts';

const USAGE = 'sync --account ID [--mode intraday|prior_day|range] [--from YYYY-MM-DD --to YYYY-MM-DD] [--wait]';
const POLL_MS = 500;
const BAR_WIDTH = 30;

/** `[#########---------]  9/14 windows  inserted 1200  updated 3  balances 40` */
export function progressLine(run: RunView): string {
  const { windowsTotal: total, windowsDone: done } = run.progress;
  const filled = total > 0 ? Math.round((done / total) * BAR_WIDTH) : 0;
  const c = run.counts;
  return (
    `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${String(done).padStart(String(total).length)}/${total} windows  ` +
    `${run.status}  fetched ${c.fetched}  inserted ${c.inserted}  updated ${c.updated}  superseded ${c.superseded}  balances ${c.balances}`
  );
}

function requestOf(values: {
  mode?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
}): SyncRequest | string {
  const mode = values.mode ?? (values.from !== undefined || values.to !== undefined ? 'range' : 'intraday');
  if (!(SYNC_MODES as readonly string[]).includes(mode)) {
    return `--mode must be one of ${SYNC_MODES.join(', ')}`;
  }
  if (mode === 'range') {
    if (values.from === undefined || values.to === undefined) {
      return '--mode range needs --from and --to';
    }
    for (const [option, value] of [
      ['--from', values.from],
      ['--to', values.to],
    ] as const) {
      if (!isIsoDate(value)) {
        return `${option} must be a calendar date YYYY-MM-DD, not ${JSON.stringify(value)}`;
      }
    }
    return { mode: 'range', from: values.from, to: values.to };
  }
  if (values.from !== undefined || values.to !== undefined) {
    return `--from/--to only go with --mode range, not ${mode}`;
  }
  return { mode: mode as 'intraday' | 'prior_day' };
}

/**
 * How long the queues' Redis may be away while a run is waited for (a restart takes a few seconds) before the command
 * gives up waiting: no worker can go on with the run meanwhile.
 */
const REDIS_AWAY_MS = 10_000;

/** Redis stayed away while the run was waited for (`REDIS_AWAY_MS`): the run as last read. */
class RedisAway {
  readonly run: RunView;
  constructor(run: RunView) {
    this.run = run;
  }
}

/**
 * Polls the run until it ends, drawing the progress bar on stderr (one line per change when not a TTY), or until the
 * queues' Redis has been away for `REDIS_AWAY_MS`.
 */
async function waitFor(
  deps: Pick<ProducerDeps, 'db' | 'queues'>,
  runId: string,
  showBar: boolean,
): Promise<RunView | RedisAway> {
  const tty = process.stderr.isTTY;
  let last = '';
  let awaySince: number | undefined;
  for (;;) {
    const run = await getRun(deps, runId);
    awaySince = deps.queues.redis.status === 'ready' ? undefined : (awaySince ?? Date.now());
    if (run.finishedAt === null && awaySince !== undefined && Date.now() - awaySince >= REDIS_AWAY_MS) {
      if (showBar && tty) {
        process.stderr.write('\n');
      }
      return new RedisAway(run);
    }
    const line = progressLine(run);
    if (showBar && line !== last) {
      process.stderr.write(tty ? `\r${line}` : `${line}\n`);
      last = line;
    }
    if (run.finishedAt !== null) {
      if (showBar && tty) {
        process.stderr.write('\n');
      }
      return run;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

async function syncCommand(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        account: { type: 'string' },
        integration: { type: 'string' },
        mode: { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
        wait: { type: 'boolean', default: false },
      },
    });
  } catch (err) {
    process.stderr.write(`jpm-sync sync: ${(err as Error).message}\nusage: jpm-sync ${USAGE}\n`);
    return 2;
  }
  const { values } = parsed;
  const request = requestOf(values);
  const problem =
    typeof request === 'string'
      ? request
      : (values.account === undefined) === (values.integration === undefined)
        ? 'give --account ID (or --integration ID)'
        : values.account !== undefined && !isUuid(values.account)
          ? '--account must be an account id (a UUID)'
          : values.integration !== undefined && !isUuid(values.integration)
            ? '--integration must be an integration id (a UUID)'
            : undefined;
  if (problem !== undefined || typeof request === 'string') {
    process.stderr.write(`jpm-sync sync: ${problem ?? ''}\nusage: jpm-sync ${USAGE}\n`);
    return 2;
  }
  const { config, secrets } = loadConfigOrExit(process.env, { logToStderr: true });
  await checkDependencies(config, secrets, { redis: true }).catch(exitOnDependencyError);
  const db = createDb({ url: config.database.url, password: secrets.databasePassword, poolMax: 2 });
  const queues = createQueues({
    redisUrl: config.redis.url,
    redisClusterNodes: config.redis.clusterNodes,
    prefix: config.queue.prefix,
  });
  const deps: ProducerDeps = {
    db,
    queues,
    now: () => new Date(),
    logger: createLogger('cli'),
    lookbackDays: config.sync.lookbackDays,
  };
  try {
    const { runs } = await triggerSync(deps, {
      ...(values.account !== undefined ? { accountId: values.account } : { integrationId: values.integration ?? '' }),
      request,
      trigger: 'manual',
    });
    for (const r of runs) {
      process.stdout.write(
        `${r.joined ? 'joined' : 'queued'}  run ${r.runId}  account ${r.accountId}  (${r.status})\n`,
      );
    }
    if (!values.wait) {
      return 0;
    }
    let ok = true;
    for (const r of runs) {
      const done = await waitFor(deps, r.runId, request.mode === 'range');
      if (done instanceof RedisAway) {
        const { run } = done;
        process.stderr.write(
          `jpm-sync sync: Redis is not reachable (away for ${REDIS_AWAY_MS / 1000} s while waiting for run ${run.runId}, ` +
            `${run.status}, ${run.progress.windowsDone}/${run.progress.windowsTotal} windows); check REDIS_URL and that Redis ` +
            'runs; the run goes on once it is back\n',
        );
        return EXIT_DEPENDENCY;
      }
      process.stdout.write(
        `${done.status}  run ${done.runId}  inserted ${done.counts.inserted}  updated ${done.counts.updated}  ` +
          `superseded ${done.counts.superseded}  removed ${done.counts.removed}  rejected ${done.counts.rejected}  balances ${done.counts.balances}` +
          `${done.error ? `  error ${done.error.code}: ${done.error.message ?? ''}` : ''}\n`,
      );
      ok &&= done.status === 'succeeded';
    }
    return ok ? 0 : 1;
  } catch (err) {
    // A refused request names each field and what is wrong with it, as the API's problem document does: the command
    // line to fix (2), as an id that names nothing; a refusal by the state of things (a paused account) is 1.
    const expected = expectedFailure(err);
    if (!expected) {
      throw err;
    }
    const fields = err instanceof ValidationError ? err.fields.map((f) => `\n  ${f.path}: ${f.message}`).join('') : '';
    process.stderr.write(`jpm-sync sync: ${expected.message}${fields}\n`);
    return expected.code;
  } finally {
    await queues.close();
    await db.destroy();
  }
}

registerCommand(
  'sync',
  syncCommand,
  `${USAGE}\n                                       Trigger a sync (an account, or --integration for each of its accounts); --wait shows progress and exits 0 only on success`,
);
