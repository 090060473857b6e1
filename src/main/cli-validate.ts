import { open, rm, stat, type FileHandle } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { isUuid } from '../shared/ids.ts';
import { createLogger } from '../shared/logger.ts';
import { isIsoDate } from '../shared/time.ts';
import { createDb } from '../storage/db.ts';
import {
  createValidationReport,
  renderValidationReportHtml,
  type ValidationReportDocument,
} from '../validation/index.ts';
import { checkDependencies, exitOnDependencyError, loadConfigOrExit } from './bootstrap.ts';
import { expectedFailure, registerCommand, terminalText } from './commands.ts';

/**
 * `jpm-sync validate --integration ID [--from YYYY-MM-DD --to YYYY-MM-DD] [--html out.html] [--json]`:
 * builds and stores a validation report (the same one `POST /v1/integrations/{id}/validations`
 * makes), draws a progress bar per account on stderr, prints the verdict, and optionally writes the
 * HTML page. Exit code 0 when the report passed; 1 when it failed or was refused (an integration with no accounts);
 * 2 on bad usage or an unknown integration; 75 when there is nothing to report yet (since approval, the bank has closed
 * no account's first business day): the same command succeeds from the day the message names.
 */
const USAGE =
  'validate --integration ID [--from DATE] [--to DATE] [--html FILE] [--json]   Prove the data of an integration; store and print the report';

function fail(message: string, code = 2): number {
  process.stderr.write(`jpm-sync validate: ${message}\n`);
  return code;
}

/** `[██████░░░░] 3/8 accounts`: redrawn in place on a terminal, one line per step otherwise. */
export function progressBar(done: number, total: number, width = 24): string {
  const filled = total === 0 ? width : Math.round((done / total) * width);
  return `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${done}/${total} accounts`;
}

function summary(doc: ValidationReportDocument): string {
  const lines = [
    `Validation report ${doc.id}`,
    `  integration ${terminalText(doc.integration.name)} (${doc.integration.id}), ${doc.period.from} to ${doc.period.to}`,
    `  ${doc.summary.accounts} account(s): ${doc.summary.proved} day(s) proved, ${doc.summary.broken} broken, ${doc.summary.unproved} unproved; ${doc.summary.openSuspicions} open duplicate suspicion(s)`,
    `  verdict: ${doc.passed ? 'PASSED' : 'FAILED'}`,
    ...doc.reasons.map((r) => `    - ${terminalText(r)}`),
  ];
  return `${lines.join('\n')}\n`;
}

async function validateCommand(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        integration: { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
        html: { type: 'string' },
        json: { type: 'boolean', default: false },
      },
    }));
  } catch (err) {
    return fail((err as Error).message);
  }
  if (!values.integration || !isUuid(values.integration)) {
    return fail('--integration ID (a UUID) is required');
  }
  for (const key of ['from', 'to'] as const) {
    const v = values[key];
    if (v !== undefined && !isIsoDate(v)) {
      return fail(`--${key} must be a date as YYYY-MM-DD`);
    }
  }
  const { config, secrets } = loadConfigOrExit(process.env, { logToStderr: true });
  await checkDependencies(config, secrets, { redis: false }).catch(exitOnDependencyError);
  // The page's file is opened before any work, once Postgres answered: a path that cannot be written stores no
  // report. Opened without truncating it (append): a run that makes no report (not yet, refused, failed) leaves an
  // earlier run's page as it was, and removes the file if it created it.
  let page: FileHandle | undefined;
  let createdPage = false;
  let pageWritten = false;
  if (values.html) {
    try {
      createdPage = !(await stat(values.html).then(
        () => true,
        () => false,
      ));
      page = await open(values.html, 'a');
    } catch (err) {
      return fail(`--html ${values.html} cannot be written (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  const db = createDb({ url: config.database.url, password: secrets.databasePassword, poolMax: 2 });
  const tty = process.stderr.isTTY;
  try {
    const doc = await createValidationReport(
      { db, now: () => new Date(), logger: createLogger('validation') },
      {
        integrationId: values.integration,
        requestedBy: `cli:${process.env.USER ?? 'unknown'}`,
        ...(values.from ? { from: values.from } : {}),
        ...(values.to ? { to: values.to } : {}),
        onProgress: ({ done, total }) => {
          process.stderr.write(tty ? `\r${progressBar(done, total)}` : `${progressBar(done, total)}\n`);
        },
      },
    );
    if (tty) {
      process.stderr.write('\n');
    }
    if (page) {
      // In append mode every write goes to the end: emptied first, the page is the whole file.
      await page.truncate(0);
      await page.writeFile(renderValidationReportHtml(doc), 'utf8');
      pageWritten = true;
    }
    process.stdout.write(values.json ? `${JSON.stringify(doc)}\n` : summary(doc));
    if (values.html && !values.json) {
      process.stdout.write(`  HTML page written to ${values.html}\n`);
    }
    return doc.passed ? 0 : 1;
  } catch (err) {
    const expected = expectedFailure(err);
    if (expected) {
      return fail(terminalText(expected.message), expected.code);
    }
    throw err;
  } finally {
    await page?.close();
    if (page && createdPage && !pageWritten) {
      await rm(values.html!, { force: true });
    }
    await db.destroy();
  }
}

registerCommand('validate', validateCommand, USAGE);
