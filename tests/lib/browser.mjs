// Headless Chromium for the browser tests: Debian's chromium (CHROMIUM_BIN, default /usr/bin/chromium)
// driven by the npm package playwright-core of tests/node, with the flags this machine's closed network
// needs. Importing this module exits 77 (meson's SKIP) when either is not installed: tools/dev test
// installs both, so in CI a browser test always runs.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join as joinPath } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
if (!existsSync(CHROMIUM)) {
  console.log(`SKIP: ${CHROMIUM} is not installed (apt-get install chromium; tools/dev test does)`);
  process.exit(77);
}
let chromium;
try {
  ({ chromium } = createRequire(joinPath(here, '..', 'node', 'package.json'))('playwright-core'));
} catch {
  console.log('SKIP: the npm package playwright-core is not installed in tests/node (tools/dev test installs it)');
  process.exit(77);
}

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-dev-shm-usage'];

// Runs fn(context) in a fresh browser profile, closed and removed afterwards. `args`: more chromium
// flags (browser_tls.mjs trusts the test server's key with --ignore-certificate-errors-spki-list).
export async function withBrowser(fn, { args = [] } = {}) {
  const profile = mkdtempSync(joinPath(tmpdir(), 'ringcast-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: [...ARGS, ...args], viewport: { width: 1280, height: 720 },
  });
  try {
    await fn(context);
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}
