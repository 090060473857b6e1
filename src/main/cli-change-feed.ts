import { parseArgs } from 'node:util';
import { feedXidsAhead, resetChangeFeed } from '../events/change-feed.ts';
import { readFeedState } from '../storage/change-feed.repo.ts';
import { createDb } from '../storage/db.ts';
import { checkDependencies, exitOnDependencyError, loadConfigOrExit } from './bootstrap.ts';
import { registerCommand } from './commands.ts';

/**
 * `jpm-sync change-feed status|reset --yes`: the operator's side of the change feed after a database restore
 * (README, Operations). `status` prints the epoch, the purge horizon and whether stored xids (of every xid-ordered
 * table) are ahead of the cluster (exit 1 then, naming them); `reset --yes` starts a new epoch (`resetChangeFeed`): every cursor issued before is refused
 * and consumers resync.
 */
const USAGE =
  "change-feed status|reset --yes      Show the change feed's epoch and whether it needs a reset; reset it (after a database restore: every consumer resyncs)";

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
  if (action !== 'status' && action !== 'reset') {
    return fail(`unknown action ${JSON.stringify(action ?? '')}; use status or reset --yes`);
  }
  if (action === 'reset' && !values.yes) {
    return fail(
      'reset drops the retained change events and refuses every cursor issued so far (every consumer of GET /v1/changes must resync); run it after a database restore, with --yes',
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
    const state = await readFeedState(db);
    const ahead = await feedXidsAhead(db);
    process.stdout.write(
      `epoch ${state.epoch}, purged through (${state.purgedThrough.xid}, ${state.purgedThrough.id})\n` +
        (ahead
          ? `NEEDS A RESET: stored transaction ids up to ${ahead.stored} are ahead of the cluster's next (${ahead.next}) in: ${ahead.ahead.map((a) => `${a.what} (${a.stored})`).join(', ')}; run \`jpm-sync change-feed reset --yes\`\n`
          : 'stored transaction ids are behind the cluster: ok\n'),
    );
    return ahead ? 1 : 0;
  } finally {
    await db.destroy();
  }
}

registerCommand('change-feed', changeFeedCommand, USAGE);
