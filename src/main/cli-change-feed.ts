import { parseArgs } from 'node:util';
import { feedXidsAhead, resetChangeFeed } from '../events/change-feed.ts';
import {
  checkFeedDatabase,
  confirmFeedDatabase,
  describeFeedDatabase,
  feedDatabaseAdvice,
} from '../events/feed-database.ts';
import { readFeedState } from '../storage/change-feed.repo.ts';
import { createDb } from '../storage/db.ts';
import { checkDependencies, exitOnDependencyError, loadConfigOrExit } from './bootstrap.ts';
import { registerCommand } from './commands.ts';

/**
 * `jpm-sync change-feed status|reset --yes|confirm --yes`: the operator's side of the change feed after a database
 * restore or failover (README, Operations). `status` prints the epoch, the purge horizon, whether stored xids (of
 * every xid-ordered table) are ahead of the cluster and whether the database is the one the feed was recorded on
 * (exit 1 when either needs a decision, saying which); `reset --yes` starts a new epoch (`resetChangeFeed`): every
 * cursor issued before is refused and consumers resync; `confirm --yes` records this database as the feed's without
 * a reset (nothing was lost: `confirmFeedDatabase`).
 */
const USAGE =
  "change-feed status|reset --yes|confirm --yes   Show the change feed's epoch and whether it needs a reset; reset it (after a database restore: every consumer resyncs); confirm the database after a switchover that lost nothing";

function fail(message: string, code = 2): number {
  process.stderr.write(`jpm-sync change-feed: ${message}\n`);
  return code;
}

async function changeFeedCommand(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { yes: { type: 'boolean', default: false } },
  });
  const action = positionals[0];
  if (action !== 'status' && action !== 'reset' && action !== 'confirm') {
    return fail(`unknown action ${JSON.stringify(action ?? '')}; use status, reset --yes or confirm --yes`);
  }
  if (action === 'reset' && !values.yes) {
    return fail(
      'reset drops the retained change events and refuses every cursor issued so far (every consumer of GET /v1/changes must resync); run it after a database restore, with --yes',
    );
  }
  if (action === 'confirm' && !values.yes) {
    return fail(
      "confirm records this database as the change feed's without a reset, so every cursor issued so far reads on; run it only when nothing the feed handed out can have been lost (a switchover after a clean shutdown of the old primary, pg_upgrade), with --yes; otherwise run reset --yes",
    );
  }
  const { config, secrets } = loadConfigOrExit(process.env, { logToStderr: true });
  await checkDependencies(config, secrets, { redis: false }).catch(exitOnDependencyError);
  const db = createDb({ url: config.database.url, password: secrets.databasePassword, poolMax: 1 });
  try {
    if (action === 'reset') {
      const before = await readFeedState(db);
      const epoch = await resetChangeFeed(db);
      process.stdout.write(
        `change feed reset: epoch ${before.epoch} -> ${epoch}; every cursor issued before is refused (410 or 400 invalid_cursor) and its consumer resyncs\n`,
      );
    }
    if (action === 'confirm') {
      if (await feedXidsAhead(db)) {
        return fail(
          "stored transaction ids are ahead of the cluster's: the database was restored from a dump and needs `jpm-sync change-feed reset --yes`; nothing confirmed",
          1,
        );
      }
      const identity = await confirmFeedDatabase(db);
      process.stdout.write(
        identity === null
          ? 'the database is a standby (in recovery): nothing confirmed\n'
          : "change feed's database confirmed without a reset: every cursor issued before reads on\n",
      );
      if (identity === null) {
        return 1;
      }
    }
    const state = await readFeedState(db);
    const ahead = await feedXidsAhead(db);
    const database = await checkFeedDatabase(db);
    const advice = feedDatabaseAdvice(database);
    process.stdout.write(
      `epoch ${state.epoch}, purged through (${state.purgedThrough.xid}, ${state.purgedThrough.id})\n` +
        (ahead
          ? `NEEDS A RESET: stored transaction ids up to ${ahead.stored} are ahead of the cluster's next (${ahead.next}) in: ${ahead.ahead.map((a) => `${a.what} (${a.stored})`).join(', ')}; run \`jpm-sync change-feed reset --yes\`\n`
          : 'stored transaction ids are behind the cluster: ok\n') +
        `${describeFeedDatabase(database)}\n` +
        (advice === undefined ? '' : `NEEDS A DECISION: the database is ${advice}\n`),
    );
    return ahead || advice !== undefined ? 1 : 0;
  } finally {
    await db.destroy();
  }
}

registerCommand('change-feed', changeFeedCommand, USAGE);
