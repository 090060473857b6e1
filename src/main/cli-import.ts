import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { isAppError } from '../shared/errors.ts';
import { isUuid } from '../shared/ids.ts';
import { createDb } from '../storage/db.ts';
import { checkDependencies, exitOnDependencyError, loadConfigOrExit } from './bootstrap.ts';
import { EXIT_FAILED, expectedFailure, registerCommand } from './commands.ts';
import { importStatementFile } from './statement-import.ts';
import { STATEMENT_BODY_LIMIT } from '../admin-api/statements.routes.ts';
import { DocumentDecoder, limitBytes } from '../http/body.ts';

/**
 * `jpm-sync import FILE --account ID [--json]`: imports a BAI2 or camt.052/053 statement file into an
 * account as a sync run (the same path as `POST /v1/accounts/{id}/statements`) and prints the counts.
 * Exit code 0 when every record was stored, 1 when the file was refused or some records were
 * rejected, 2 on bad usage or an unknown account, 75 when another sync stored a day of the file while it was read
 * (nothing imported; import it again).
 */
const USAGE =
  'import FILE --account ID [--charset NAME] [--json]   Import a BAI2 or camt.052/camt.053 statement file into an account';
/** The same bound as the HTTP route: a year of a busy account's prior-day file is far below it. */
const MAX_STATEMENT_BYTES = limitBytes(STATEMENT_BODY_LIMIT);

/** `[██████░░░░] 3000/12366 records`: redrawn in place on a terminal, one line per page otherwise. */
export function progressBar(done: number, total: number, width = 24): string {
  const filled = total === 0 ? width : Math.round((done / total) * width);
  return `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${done}/${total} records`;
}

function fail(message: string, code = 2): number {
  process.stderr.write(`jpm-sync import: ${message}\n`);
  return code;
}

async function importCommand(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { account: { type: 'string' }, charset: { type: 'string' }, json: { type: 'boolean', default: false } },
    });
  } catch (err) {
    return fail((err as Error).message);
  }
  const { values, positionals } = parsed;
  const file = positionals[0];
  if (!file || positionals.length > 1) {
    return fail('give one FILE to import');
  }
  if (!values.account || !isUuid(values.account)) {
    return fail('--account ID (a UUID) is required');
  }
  const found = await stat(file).then(
    (s) => s,
    () => undefined,
  );
  if (!found) {
    return fail(`cannot read ${file}`);
  }
  if (!found.isFile()) {
    return fail(
      `cannot read ${file}: it is ${found.isDirectory() ? 'a directory' : 'not a regular file'}, not a statement file`,
    );
  }
  const size = found.size;
  if (size > MAX_STATEMENT_BYTES) {
    return fail(
      `${file} is ${size} bytes; at most ${MAX_STATEMENT_BYTES} are imported at once (split the file by date)`,
    );
  }
  let decoder: DocumentDecoder;
  try {
    // The file's charset: --charset, else its byte order mark or XML declaration, else UTF-8 (bytes that are not are refused).
    decoder = new DocumentDecoder(
      values.charset ?? null,
      'name its charset with --charset, such as --charset ISO-8859-1',
    );
  } catch {
    return fail(`--charset ${values.charset}: not a charset this command reads`);
  }
  const { config, secrets } = loadConfigOrExit(process.env, { logToStderr: true });
  await checkDependencies(config, secrets, { redis: false }).catch(exitOnDependencyError);
  const db = createDb({ url: config.database.url, password: secrets.databasePassword, poolMax: 2 });
  try {
    process.stderr.write(`reading ${file} (${size} bytes)…\n`);
    const tty = process.stderr.isTTY;
    const result = await importStatementFile(db, {
      accountId: values.account,
      trigger: 'manual',
      // Parsed as it is read: the file is never held whole as text.
      text: async (onText) => {
        for await (const chunk of createReadStream(file)) {
          const text = decoder.write(chunk as Buffer);
          if (text !== '') {
            onText(text);
          }
        }
        const rest = decoder.end();
        if (rest !== '') {
          onText(rest);
        }
      },
      onProgress: (stored, total) =>
        process.stderr.write(`${tty ? '\r' : ''}${progressBar(stored, total)}${tty ? '' : '\n'}`),
    });
    if (tty) {
      process.stderr.write('\n');
    }
    const c = result.counts;
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ ...result })}\n`);
    } else {
      process.stdout.write(
        [
          `Imported ${result.format} file ${result.fileId || '(no id)'} as sync run ${result.runId}: ${result.status}`,
          `  ${result.days.length} business day(s)${result.days.length > 0 ? ` from ${result.days[0]} to ${result.days.at(-1)}` : ''}`,
          `  ${c.fetched} record(s): ${c.inserted} inserted, ${c.updated} updated, ${c.unchanged} unchanged, ${c.rejected} rejected; ${c.balances} balance(s) written`,
          ...(result.copiesSkipped.length > 0
            ? [`  copy or duplicate statement of day(s) already stored, skipped: ${result.copiesSkipped.join(', ')}`]
            : []),
          ...(result.otherAccounts > 0
            ? [`  ${result.otherAccounts} other account(s) in the file were not imported`]
            : []),
        ].join('\n') + '\n',
      );
    }
    return result.status === 'succeeded' ? 0 : 1;
  } catch (err) {
    if (isAppError(err) && err.code === 'statement_empty') {
      // The route's wording ("send the file as the request body") would not tell an operator what to fix.
      return fail(`${file} holds no statement: it is empty or blank`, 1);
    }
    // An account that names nothing is the command line's (2); a file refused, or any other refusal, 1.
    const expected = expectedFailure(err, { invalidInput: EXIT_FAILED });
    if (expected) {
      return fail(expected.message, expected.code);
    }
    throw err;
  } finally {
    await db.destroy();
  }
}

registerCommand('import', importCommand, USAGE);
