import { parseArgs } from 'node:util';
import { createApiKey } from '../admin-api/api-keys.service.ts';
import { API_KEY_ROLES, type ApiKeyRole } from '../domain/access.ts';
import { isUuid, requestId } from '../shared/ids.ts';
import { findApiKey, findApiKeyByPrefix, listApiKeys, revokeApiKey, type ApiKeyRow } from '../storage/api-keys.repo.ts';
import { insertAuditEntry } from '../storage/audit.repo.ts';
import { createDb, inTransaction, type Database, type Executor } from '../storage/db.ts';
import { checkDependencies, exitOnDependencyError, loadConfigOrExit } from './bootstrap.ts';
import { expectedFailure, registerCommand, terminalText } from './commands.ts';

/**
 * `jpm-sync apikey create|list|revoke`: bootstrap and emergency key management straight against the
 * database (the first admin key cannot come from the API). Every change is written to the audit log
 * as method `CLI`, like API calls.
 */
const USAGE =
  'apikey create --name NAME --role admin|operator|viewer [--org ID] [--json]   Create an API key; prints it once\n' +
  '  apikey list [--org ID] [--revoked] [--json]     List API keys (never their secrets)\n' +
  '  apikey revoke ID|PREFIX                        Revoke an API key (immediately)';

function fail(message: string, code = 2): number {
  process.stderr.write(`jpm-sync apikey: ${message}\n`);
  return code;
}

function describe(k: ApiKeyRow): Record<string, unknown> {
  return {
    id: k.id,
    prefix: k.prefix,
    name: k.name,
    role: k.role,
    organizationId: k.organization_id,
    createdAt: k.created_at.toISOString(),
    lastUsedAt: k.last_used_at?.toISOString() ?? null,
    revokedAt: k.revoked_at?.toISOString() ?? null,
  };
}

async function audit(db: Executor, action: string, target: ApiKeyRow): Promise<void> {
  await insertAuditEntry(db, {
    requestId: requestId(),
    apiKeyId: null,
    apiKeyPrefix: null,
    organizationId: target.organization_id,
    method: 'CLI',
    route: `apikey ${action}`,
    targetType: 'api_key',
    targetId: target.id,
    statusCode: 200,
  });
}

async function create(db: Database, argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      name: { type: 'string' },
      role: { type: 'string' },
      org: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const name = values.name?.trim();
  if (!name || name.length > 100) {
    return fail('--name NAME is required (at most 100 characters)');
  }
  if (!(API_KEY_ROLES as readonly string[]).includes(values.role ?? '')) {
    return fail(`--role must be one of ${API_KEY_ROLES.join(', ')}`);
  }
  if (values.org !== undefined && !isUuid(values.org)) {
    return fail('--org must be an organization id (UUID)');
  }
  // The key and its audit row commit together: a key nobody saw the secret of is never left active.
  const { row, token } = await inTransaction(db, async (trx) => {
    const created = await createApiKey(trx, {
      name,
      role: values.role as ApiKeyRole,
      organizationId: values.org ?? null,
      createdByKeyId: null,
    });
    await audit(trx, 'create', created.row);
    return created;
  });
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ ...describe(row), key: token })}\n`);
  } else {
    const scope = row.organization_id === null ? 'all organizations' : `organization ${row.organization_id}`;
    process.stdout.write(
      `Created ${row.role} key "${terminalText(row.name)}" (prefix ${row.prefix}, ${scope}).\n\n  ${token}\n\nStore it now: it is shown only this once. Use it as: Authorization: Bearer <key>\n`,
    );
  }
  return 0;
}

async function list(db: Database, argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      org: { type: 'string' },
      revoked: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  if (values.org !== undefined && !isUuid(values.org)) {
    return fail('--org must be an organization id (UUID)');
  }
  const rows: ApiKeyRow[] = [];
  let cursor: string | undefined;
  do {
    const page = await listApiKeys(db, {
      organizationId: values.org,
      includeRevoked: values.revoked,
      cursor,
      limit: 500,
    });
    rows.push(...page.rows);
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
  if (values.json) {
    process.stdout.write(`${JSON.stringify(rows.map(describe))}\n`);
    return 0;
  }
  for (const k of rows) {
    const state = k.revoked_at
      ? `revoked ${k.revoked_at.toISOString()}`
      : `last used ${k.last_used_at?.toISOString() ?? 'never'}`;
    process.stdout.write(
      `${k.prefix}  ${k.role.padEnd(8)}  ${(k.organization_id ?? 'all organizations').padEnd(36)}  ${terminalText(k.name)}  (${state})\n`,
    );
  }
  return 0;
}

async function revoke(db: Database, argv: string[]): Promise<number> {
  const { positionals } = parseArgs({ args: argv, allowPositionals: true, options: {} });
  const ref = positionals[0];
  if (ref === undefined) {
    return fail('name the key to revoke: apikey revoke ID|PREFIX');
  }
  const key = isUuid(ref)
    ? await findApiKey(db, ref)
    : await findApiKeyByPrefix(db, ref.replace(/^jpms_/, '').split('_')[0] ?? ref);
  if (!key) {
    return fail(`no API key ${JSON.stringify(ref)}; \`jpm-sync apikey list\` shows each key's prefix`);
  }
  const revoked = await revokeApiKey(db, key.id);
  if (revoked) {
    await audit(db, 'revoke', revoked);
  }
  process.stdout.write(`Revoked key ${key.prefix} ("${terminalText(key.name)}").\n`);
  return 0;
}

async function apikeyCommand(argv: string[]): Promise<number> {
  const [action, ...rest] = argv;
  const run = action === 'create' ? create : action === 'list' ? list : action === 'revoke' ? revoke : undefined;
  if (!run) {
    return fail(`unknown action ${JSON.stringify(action ?? '')}\nUsage:\n  ${USAGE}\n`);
  }
  // Logs go to stderr: stdout is the key (or JSON) only, whatever LOG_LEVEL says.
  const { config, secrets } = loadConfigOrExit(process.env, { logToStderr: true });
  await checkDependencies(config, secrets, { redis: false }).catch(exitOnDependencyError);
  const db = createDb({ url: config.database.url, password: secrets.databasePassword, poolMax: 1 });
  try {
    return await run(db, rest);
  } catch (err) {
    const expected = expectedFailure(err);
    if (expected) {
      return fail(expected.message, expected.code);
    }
    if (err instanceof TypeError && (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      return fail(`${err.message}\nUsage:\n  ${USAGE}\n`);
    }
    throw err;
  } finally {
    await db.destroy();
  }
}

registerCommand('apikey', apikeyCommand, USAGE);
