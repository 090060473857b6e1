import { parseArgs } from 'node:util';
import { rewrapKeys, watchCertificateExpiry } from '../credentials/index.ts';
import { resealWebhookSecrets } from '../events/webhook-reseal.ts';
import { flagOverdue, listOverdue } from '../onboarding/index.ts';
import { errorMessage } from '../shared/errors.ts';
import { createDb, type Database } from '../storage/db.ts';
import { checkDependencies, exitOnDependencyError, loadConfigOrExit } from './bootstrap.ts';
import { registerCommand } from './commands.ts';
import type { Secrets } from '../config/index.ts';

/**
 * Operator commands for credentials and onboarding: master-key rotation, and running the daily
 * expiry and overdue jobs by hand. Output is JSON lines with ids and counts, never key material.
 */
async function withDb(fn: (db: Database, secrets: Secrets) => Promise<number>): Promise<number> {
  const { config, secrets } = loadConfigOrExit(process.env, { logToStderr: true });
  await checkDependencies(config, secrets, { redis: false }).catch(exitOnDependencyError);
  const db = createDb({ url: config.database.url, password: secrets.databasePassword, poolMax: 2 });
  try {
    return await fn(db, secrets);
  } catch (err) {
    process.stderr.write(`jpm-sync: ${errorMessage(err)}\n`);
    return 1;
  } finally {
    await db.destroy();
  }
}

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

async function credentialsCommand(argv: string[]): Promise<number> {
  const [action, ...rest] = argv;
  if (action === 'rewrap') {
    const { values } = parseArgs({ args: rest, options: { 'batch-size': { type: 'string', default: '100' } } });
    const batchSize = Number(values['batch-size']);
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      process.stderr.write('jpm-sync credentials rewrap: --batch-size must be a whole number from 1\n');
      return 2;
    }
    return withDb(async (db, secrets) => {
      const result = await rewrapKeys(db, secrets, { batchSize });
      // Webhook signing secrets are sealed under the master key as well: the old key may go only when both are done.
      const webhookSecrets = await resealWebhookSecrets(db, secrets, { batchSize });
      print({ masterKeyId: secrets.masterKey.id, ...result, webhookSecrets });
      const complete = result.stopped === undefined && webhookSecrets.stopped === undefined;
      return complete && result.failed.length === 0 && webhookSecrets.failed.length === 0 ? 0 : 1;
    });
  }
  if (action === 'expiry-watch') {
    // It marks expired certificates: an option it does not know (a dry run?) stops it before it runs.
    parseArgs({ args: rest, options: {} });
    return withDb(async (db) => {
      print(await watchCertificateExpiry(db));
      return 0;
    });
  }
  process.stderr.write('jpm-sync credentials: use rewrap [--batch-size N] or expiry-watch\n');
  return 2;
}

async function onboardingCommand(argv: string[]): Promise<number> {
  const [action, ...rest] = argv;
  if (action === 'overdue') {
    const { values } = parseArgs({ args: rest, options: { flag: { type: 'boolean', default: false } } });
    return withDb(async (db) => {
      print(values.flag ? await flagOverdue(db) : await listOverdue(db));
      return 0;
    });
  }
  process.stderr.write('jpm-sync onboarding: use overdue [--flag]\n');
  return 2;
}

registerCommand(
  'credentials',
  credentialsCommand,
  'credentials rewrap [--batch-size N]    Re-wrap stored private keys under CREDENTIALS_MASTER_KEY (after a master-key rotation)\n' +
    '  credentials expiry-watch               Warn about expiring certificates (60/30/7 days) and mark expired ones now',
);
registerCommand(
  'onboarding',
  onboardingCommand,
  'onboarding overdue [--flag]            List overdue integrations; --flag emits integration.overdue events once per stage',
);
