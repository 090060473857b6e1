import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { isIsoDate } from '../shared/time.ts';
import { createClientCredential, ensureDevPki, PKI_FILES, signCsr, startSimulator } from '../simulator/index.ts';
import { ALL_QUIRKS, NO_QUIRKS } from '../simulator/quirks.ts';
import { registerCommand } from './commands.ts';
import { loadConfigOrExit } from './bootstrap.ts';
import { onShutdown } from './lifecycle.ts';

/**
 * `jpm-sync simulator …`: run the J.P. Morgan simulator, create its dev PKI, or sign a CSR with the
 * dev CA (how onboarding gets a certificate in development, as J.P. Morgan issues one in production).
 * Defaults for host, port and PKI folder come from config (`SIMULATOR_HOST/PORT/PKI_DIR`).
 */
const DEV_CLIENT = { cert: 'client-dev.crt', key: 'client-dev.key' } as const;

function fail(message: string): number {
  process.stderr.write(`jpm-sync simulator: ${message}\n`);
  return 2;
}

function intOption(value: string | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined) {
    return undefined;
  }
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new Error(`--${name} must be an integer from ${min} to ${max}`);
  }
  return Number(value);
}

async function runServer(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      seed: { type: 'string' },
      today: { type: 'string' },
      progress: { type: 'string' },
      replay: { type: 'string' },
      accounts: { type: 'string' },
      'tx-per-day': { type: 'string' },
      'history-days': { type: 'string' },
      'no-quirks': { type: 'boolean', default: false },
      prerender: { type: 'boolean', default: false },
      strange: { type: 'boolean', default: false },
      holidays: { type: 'string' },
      'latency-ms': { type: 'string' },
    },
  });
  const { config, logger } = loadConfigOrExit(process.env, { logToStderr: true });
  const today = values.today ?? new Date().toISOString().slice(0, 10);
  if (!isIsoDate(today)) {
    return fail(`--today must be YYYY-MM-DD, got ${JSON.stringify(today)}`);
  }
  const progress = values.progress === undefined ? 0.5 : Number(values.progress);
  if (!(progress >= 0 && progress <= 1)) {
    return fail('--progress must be between 0 and 1');
  }
  const holidays =
    values.holidays === undefined
      ? []
      : values.holidays
          .split(',')
          .map((d) => d.trim())
          .filter((d) => d !== '');
  if (holidays.some((d) => !isIsoDate(d))) {
    return fail(`--holidays must be comma-separated YYYY-MM-DD dates, got ${JSON.stringify(values.holidays)}`);
  }
  if (values['no-quirks'] && values.strange) {
    return fail('--no-quirks and --strange exclude each other');
  }
  const pkiDir = resolve(config.simulator.pkiDir);
  const sim = await startSimulator({
    host: values.host ?? config.simulator.host,
    port: intOption(values.port, 'port', 0, 65535) ?? config.simulator.port,
    pkiDir,
    today,
    progress,
    ...(values.seed !== undefined ? { seed: values.seed } : {}),
    ...(values.replay !== undefined ? { replayFile: resolve(values.replay) } : {}),
    ...(values.accounts !== undefined ? { accounts: intOption(values.accounts, 'accounts', 1, 10_000) } : {}),
    ...(values['tx-per-day'] !== undefined
      ? { txPerDay: intOption(values['tx-per-day'], 'tx-per-day', 1, 100_000) }
      : {}),
    ...(values['history-days'] !== undefined
      ? { historyDays: intOption(values['history-days'], 'history-days', 0, 3650) }
      : {}),
    ...(values['no-quirks'] ? { quirks: NO_QUIRKS } : {}),
    ...(values.strange ? { quirks: ALL_QUIRKS } : {}),
    holidays,
    prerender: values.prerender,
    ...(values['latency-ms'] !== undefined
      ? { latencyMs: intOption(values['latency-ms'], 'latency-ms', 0, 600_000) }
      : {}),
  });
  process.stdout.write(
    `J.P. Morgan simulator listening on ${sim.url} (today ${today}, progress ${progress})\n` +
      `  CA certificate: ${join(pkiDir, PKI_FILES.caCert)}\n` +
      `  accounts: ${sim.accounts.map((a) => `${a.accountId} ${a.currency.code}`).join(', ')}\n` +
      `  a client certificate: \`jpm-sync simulator pki\` writes ${DEV_CLIENT.cert}/${DEV_CLIENT.key}; or sign a CSR with \`jpm-sync simulator sign-csr\`\n` +
      '  Ctrl-C stops it.\n',
  );
  onShutdown(logger, 10_000, () => [{ name: 'simulator', stop: () => sim.stop() }]);
  return new Promise<number>(() => undefined); // runs until a signal ends the process
}

async function pkiCommand(): Promise<number> {
  const { config } = loadConfigOrExit(process.env, { logToStderr: true });
  const dir = resolve(config.simulator.pkiDir);
  const pki = await ensureDevPki(dir);
  // A ready-made client certificate, so a developer can curl the simulator straight away.
  const client = await createClientCredential(pki, { commonName: 'jpm-sync dev client' });
  await writeFile(join(dir, DEV_CLIENT.key), client.keyPem, { mode: 0o600 });
  await writeFile(join(dir, DEV_CLIENT.cert), client.certPem, { mode: 0o644 });
  for (const [what, file] of [
    ['CA certificate', PKI_FILES.caCert],
    ['CA key', PKI_FILES.caKey],
    ['server certificate', PKI_FILES.serverCert],
    ['server key', PKI_FILES.serverKey],
    ['dev client certificate', DEV_CLIENT.cert],
    ['dev client key', DEV_CLIENT.key],
  ] as const) {
    process.stdout.write(`${what.padEnd(24)}${join(dir, file)}\n`);
  }
  return 0;
}

async function signCsrCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { in: { type: 'string' }, out: { type: 'string' }, days: { type: 'string' } },
  });
  if (!values.in || !values.out) {
    return fail('sign-csr needs --in req.pem --out cert.pem');
  }
  const { config } = loadConfigOrExit(process.env, { logToStderr: true });
  const pki = await ensureDevPki(resolve(config.simulator.pkiDir));
  const days = intOption(values.days, 'days', 1, 3650);
  const certPem = await signCsr(pki, await readFile(values.in, 'utf8'), days === undefined ? {} : { days });
  await writeFile(values.out, certPem, { mode: 0o644 });
  process.stdout.write(
    `certificate written to ${resolve(values.out)} (issued by ${join(resolve(config.simulator.pkiDir), PKI_FILES.caCert)})\n`,
  );
  return 0;
}

async function simulatorCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  try {
    if (sub === 'pki') {
      return await pkiCommand();
    }
    if (sub === 'sign-csr') {
      return await signCsrCommand(rest);
    }
    return await runServer(argv);
  } catch (err) {
    return fail(err instanceof Error ? err.message : String(err));
  }
}

registerCommand(
  'simulator',
  simulatorCommand,
  'simulator [--host --port --seed --today --progress --replay FILE --accounts N --tx-per-day N --history-days N --no-quirks --prerender --latency-ms N]\n' +
    '                                       Run the J.P. Morgan simulator (mTLS) until Ctrl-C\n' +
    '  simulator pki                        Create the dev CA + server certificate (and a dev client certificate); print paths\n' +
    '  simulator sign-csr --in req.pem --out cert.pem [--days N]   Issue a client certificate for a CSR with the dev CA',
);
