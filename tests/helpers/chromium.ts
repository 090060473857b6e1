import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Finds a Chromium for the browser tests (driven by playwright-core), so `npm install && npm test`
 * works on a machine with no browser installed:
 *
 * 1. `CHROMIUM_PATH`, when set (any Chromium or Chrome you want to test with);
 * 2. the headless Chromium that the `@sparticuz/chromium` dev dependency ships inside its npm
 *    package (Linux x64; brotli-packed, unpacked once into `node_modules/.cache/` — nothing is
 *    downloaded);
 * 3. a system Chromium (`/usr/bin/chromium`, Debian's package), e.g. on another architecture.
 *
 * The unpacked copy is keyed by the package's version and published with an atomic rename, so
 * test processes running at the same time never start a half-written binary.
 */
export interface ResolvedChromium {
  executablePath: string;
  source: 'CHROMIUM_PATH' | '@sparticuz/chromium' | 'system';
}

const SYSTEM_PATHS = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

async function unpackBundled(): Promise<string | undefined> {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    return undefined;
  }
  const require = createRequire(import.meta.url);
  let version: string;
  try {
    // Its exports map hides package.json; the entry point lives in <package>/build/.
    const entry = require.resolve('@sparticuz/chromium');
    const pkg = JSON.parse(
      readFileSync(join(entry.slice(0, entry.lastIndexOf('/build/')), 'package.json'), 'utf8'),
    ) as { version: string };
    version = pkg.version;
  } catch {
    return undefined;
  }
  const final = join(ROOT, 'node_modules', '.cache', `sparticuz-chromium-${version}`);
  if (existsSync(join(final, 'chromium'))) {
    return join(final, 'chromium');
  }
  // The package unpacks into os.tmpdir(); point that at a private directory for the call.
  const staging = `${final}.${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  const before = process.env.TMPDIR;
  process.env.TMPDIR = staging;
  try {
    const { default: Chromium } = await import('@sparticuz/chromium');
    await Chromium.executablePath();
  } finally {
    if (before === undefined) {
      delete process.env.TMPDIR;
    } else {
      process.env.TMPDIR = before;
    }
  }
  try {
    renameSync(staging, final);
  } catch {
    // Another process published it first: use theirs.
    rmSync(staging, { recursive: true, force: true });
  }
  return existsSync(join(final, 'chromium')) ? join(final, 'chromium') : undefined;
}

export async function resolveChromium(): Promise<ResolvedChromium> {
  const fromEnv = process.env.CHROMIUM_PATH;
  if (fromEnv) {
    return { executablePath: fromEnv, source: 'CHROMIUM_PATH' };
  }
  const bundled = await unpackBundled();
  if (bundled) {
    return { executablePath: bundled, source: '@sparticuz/chromium' };
  }
  const system = SYSTEM_PATHS.find((p) => existsSync(p));
  if (system) {
    return { executablePath: system, source: 'system' };
  }
  throw new Error(
    'no Chromium found: `npm install` brings one on Linux x64 (@sparticuz/chromium); elsewhere install Chromium (e.g. apt-get install chromium) or set CHROMIUM_PATH',
  );
}
