// The demo page in a real browser: Debian's chromium, headless, driven by playwright-core. The page
// loads from the client port (ringcast --demo), connects with the JS client and joins a room; a push
// the test sends to the push API flies across the stage and lands in the log; a comment typed into
// the box goes through POST /demo/publish and comes back; the counters count. A screenshot is written
// to RINGCAST_TEST_OUTPUT (meson: <build>/tests/test-output/demo.png).
// Exits 77 (SKIP) only when chromium or playwright-core is not installed (tools/dev test installs both).
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';

import { assert, assertEqual, run, test, withServer } from '../lib/harness.mjs';
import { withBrowser } from '../lib/browser.mjs';

const outDir = process.env.RINGCAST_TEST_OUTPUT || joinPath(tmpdir(), 'ringcast-test-output');
mkdirSync(outDir, { recursive: true });

test('the demo page shows a pushed message, sends a comment, counts', () => withServer(['--demo'], { threads: 2 }, (server) => withBrowser(async (context) => {
  const page = context.pages()[0] || await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });

  const response = await page.goto(`http://127.0.0.1:${server.wsPort}/?room=browser`);
  assertEqual(response.status(), 200);
  assertEqual(response.headers()['content-type'], 'text/html; charset=utf-8');
  assertEqual(await page.title(), 'ringcast · live demo');
  await page.waitForSelector('body[data-state="open"]', { timeout: 15000 });
  assertEqual(await page.textContent('#status'), 'connected');
  assertEqual(await page.textContent('#room-name'), 'browser');
  await server.waitStat('joins', (v) => v >= 1);  // the page's JOIN has been handled

  const r = await server.pushRoom('browser', [{ text: 'hello from the test' }, 'a plain string']);
  assertEqual(r.status, 200);
  await page.waitForSelector('#stage .comment:text("hello from the test")', { timeout: 15000 });
  await page.waitForSelector('#recent li:has-text("a plain string")', { timeout: 15000 });

  await page.fill('#text', 'typed in chromium');
  await page.click('#send button');
  await page.waitForSelector('#stage .comment.mine:text("typed in chromium")', { timeout: 15000 });
  assertEqual(await page.inputValue('#text'), '', 'box cleared after sending');

  // The counters: one connection (this page), and the rates are numbers once two polls are in.
  await page.waitForFunction(() => document.getElementById('c-conns').textContent === '1', null, { timeout: 15000 });
  await page.waitForFunction(() => /^\d/.test(document.getElementById('c-out').textContent), null, { timeout: 15000 });
  const stats = await server.stats();
  assertEqual(stats.demoPublishes, 1);
  assert(stats.demoRequests >= 4, `page, script, style, client, stats: ${stats.demoRequests}`);

  // Let the comments fly into view, then keep a picture of the page.
  await server.pushRoom('browser', [{ text: 'danmaku: comments fly right to left' }, { text: 'ringcast ♥ io_uring' }]);
  await page.waitForTimeout(2500);
  const shot = joinPath(outDir, 'demo.png');
  await page.screenshot({ path: shot });
  assert(existsSync(shot), 'screenshot written');
  console.log(`screenshot: ${shot}`);

  // Switching rooms leaves the old one: a push there no longer shows.
  await page.selectOption('#room', 'music');
  await page.waitForFunction(() => document.body.dataset.room === 'music');
  await server.waitStat('leaves', (v) => v >= 1);
  await server.pushRoom('browser', [{ text: 'not shown any more' }]);
  await server.pushRoom('music', [{ text: 'in music' }]);
  await page.waitForSelector('#recent li:has-text("in music")', { timeout: 15000 });
  assertEqual(await page.locator('#recent li:has-text("not shown any more")').count(), 0);

  assertEqual(problems.length, 0, problems.join('\n'));
})));

test('the page reconnects and rejoins after the server restarts', () => withBrowser(async (context) => {
  const { Server } = await import('../lib/harness.mjs');
  const first = await new Server(['--demo'], { threads: 1 }).start();
  const port = first.wsPort;
  let second;
  try {
    const page = context.pages()[0] || await context.newPage();
    await page.goto(`http://127.0.0.1:${port}/?room=again`);
    await page.waitForSelector('body[data-state="open"]', { timeout: 15000 });
    await first.stop();
    await page.waitForSelector('body[data-state="reconnecting"]', { timeout: 15000 });
    second = await new Server(['--demo', '--listen', `127.0.0.1:${port}`], { threads: 1 }).start();
    await page.waitForSelector('body[data-state="open"]', { timeout: 20000 });
    assertEqual(await page.textContent('#status'), 'reconnected');
    await second.waitStat('joins', (v) => v >= 1);
    await second.pushRoom('again', [{ text: 'after the restart' }]);
    await page.waitForSelector('#recent li:has-text("after the restart")', { timeout: 15000 });
  } finally {
    if (first.proc.exitCode === null) await first.stop();
    if (second) await second.stop();
  }
}));

run();
