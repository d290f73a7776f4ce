// permessage-deflate with a real browser: Debian's chromium, headless (playwright-core), opens the demo
// page (ringcast --demo), whose WebSocket offers permessage-deflate by itself. Pushes large enough to be
// compressed all reach the page, in order, and show in its log; the server confirms it negotiated
// (deflateNegotiated), compressed pushes (deflateFrames) and inflated what the browser sent (its JOIN).
// Exits 77 (SKIP) only when chromium or playwright-core is not installed, like browser_demo.mjs.
import { assert, assertDeepEqual, assertEqual, run, test, withServer } from '../lib/harness.mjs';
import { withBrowser } from '../lib/browser.mjs';

const ROOM = 'deflate';
const ITEMS = 120;

// Chat comments of 150 to 400 bytes as the page shows them ({text}), numbered.
function comment(n) {
  const words = ['what', 'a', 'goal', 'replay', 'please', 'gg', 'wp', 'ringcast', 'io_uring', '♥', '😀', 'again'];
  let text = `#${n}`;
  while (text.length < 150 + (n * 37) % 250) text += ` ${words[(n + text.length) % words.length]}`;
  return { text, n };
}

test('chromium negotiates permessage-deflate and receives every compressed push in order', () => withServer(['--demo'], { threads: 2 }, (server) => withBrowser(async (context) => {
  const page = context.pages()[0] || await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });

  const response = await page.goto(`http://127.0.0.1:${server.wsPort}/?room=${ROOM}`);
  assertEqual(response.status(), 200);
  await page.waitForSelector('body[data-state="open"]', { timeout: 15000 });
  await server.waitStat('joins', (v) => v >= 1);  // the page's JOIN has been handled

  // What the browser's WebSocket agreed on, as the page's client holds it.
  const extensions = await page.evaluate(() => window.ringcastClient._ws.extensions);
  assert(/^permessage-deflate\b/.test(extensions), `the page's WebSocket extensions: '${extensions}'`);
  const joined = await server.stats();
  assert(joined.deflateNegotiated >= 1, `deflateNegotiated ${joined.deflateNegotiated}`);
  assert(joined.inflateMessages >= 1, `inflateMessages ${joined.inflateMessages}: the page's JOIN came compressed`);

  // Everything the page's client hands to the page, from here on.
  await page.evaluate(() => {
    window.receivedItems = [];
    window.ringcastClient.on('push', (items) => window.receivedItems.push(...items));
  });
  const expected = [];
  for (let n = 0; n < ITEMS;) {
    const batch = [];
    for (let j = 0; j < 1 + (n % 4) && n < ITEMS; j++) batch.push(comment(n++));
    expected.push(...batch);
    assertEqual((await server.pushRoom(ROOM, batch)).status, 200, 'push');
  }
  await page.waitForFunction((count) => window.receivedItems.length >= count, ITEMS, { timeout: 30000 });
  const received = await page.evaluate(() => window.receivedItems);
  assertEqual(received.length, ITEMS, 'items received by the page');
  assertDeepEqual(received, expected, 'the items, in order');
  // The page shows the last one in its log.
  await page.waitForSelector(`#recent li:has-text("#${ITEMS - 1} ")`, { timeout: 15000 });

  const after = await server.stats();
  assert(after.deflateFrames > joined.deflateFrames, `deflateFrames ${after.deflateFrames}`);
  const bytesIn = after.deflateBytesIn - joined.deflateBytesIn;
  const bytesOut = after.deflateBytesOut - joined.deflateBytesOut;
  assert(bytesIn > 0 && bytesOut < bytesIn, `deflate bytes in ${bytesIn}, out ${bytesOut}`);
  assertEqual(after.sendMessageFail, 0, 'sendMessageFail');
  assertEqual(problems.length, 0, problems.join('\n'));
})));

run();
