// Server-Sent Events in a real browser: Debian's chromium, headless, driven by playwright-core.
// 1. A page from another origin (a node http server on another port) opens the browser's own
//    EventSource on ringcast's /sse (so the CORS answer is what lets it read the stream), receives
//    pushes, and survives a server-side drop: the worker process holding its connection is killed
//    (SIGKILL, --workers 1: the supervisor restarts it over the same shared ring), the browser
//    reconnects by itself with Last-Event-ID, and every item arrives exactly once, in order, with the
//    resume answered `recovered: true`.
// 2. The demo page with the transport picker on SSE: the JS client's SSE mode joins, receives a push,
//    and the page says so.
// 3. The JS client's fallback: its WebSocket URL answers 404 (as a proxy that breaks upgrades would
//    fail it), so after fallbackAfter failed opens it switches to SSE and receives pushes there.
// Exits 77 (SKIP) only when chromium or playwright-core is not installed.
import { readFileSync } from 'node:fs';
import http from 'node:http';

import { assert, assertDeepEqual, assertEqual, run, Server, sleep, test, withServer } from '../lib/harness.mjs';
import { withBrowser } from '../lib/browser.mjs';

// The process ids of `pid`'s children (the supervisor's workers).
function children(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

// A page on its own origin: it only opens the EventSource and records what it gets.
const PAGE = `<!doctype html><meta charset="utf-8"><title>sse test</title>
<script>
window.got = []; window.joined = []; window.ids = []; window.errors = 0;
window.subscribe = (url) => {
  const es = new EventSource(url);
  es.addEventListener('push', (e) => { window.got.push(...JSON.parse(e.data).items); window.ids.push(e.lastEventId); });
  es.addEventListener('joined', (e) => window.joined.push(JSON.parse(e.data)));
  es.onerror = () => { window.errors += 1; };
  window.es = es;
};
</script>`;

function servePage() {
  return new Promise((resolve) => {
    const server = http.createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(PAGE);
    });
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

test('EventSource from another origin resumes with Last-Event-ID after its worker is killed', async () => {
  const pageServer = await servePage();
  const pageOrigin = `http://127.0.0.1:${pageServer.address().port}`;
  const server = await new Server(['--workers', '1', '--allowed-origins', pageOrigin], { threads: 1 }).start();
  try {
    await withBrowser(async (context) => {
      const page = context.pages()[0] || await context.newPage();
      const problems = [];
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      await page.goto(`${pageOrigin}/`);
      await page.evaluate((url) => window.subscribe(url), `http://127.0.0.1:${server.wsPort}/sse?room=br`);
      await page.waitForFunction(() => window.joined.length === 1, null, { timeout: 20000 });
      const first = await page.evaluate(() => window.joined[0]);
      assertEqual(first.room, 'br');
      assertEqual(first.recovered, true);

      for (let i = 0; i < 20; i += 2) assertEqual((await server.pushRoom('br', [{ i }, { i: i + 1 }])).status, 200);
      await page.waitForFunction(() => window.got.length >= 20, null, { timeout: 20000 });

      // The server side drops the connection: the worker holding it dies.
      const [worker] = children(server.proc.pid);
      assert(worker > 0, 'a worker process');
      process.kill(worker, 'SIGKILL');
      await page.waitForFunction(() => window.errors >= 1, null, { timeout: 20000 });
      // Published while the browser is away (as soon as the restarted worker takes pushes): the resume
      // replays what it still lacks.
      const deadline = Date.now() + 30000;
      let published = 20;
      while (published < 40) {
        const r = await server.pushRoom('br', [{ i: published }]).catch(() => ({ status: 0 }));
        if (r.status === 200) published += 1;
        else {
          assert(Date.now() < deadline, 'the restarted worker takes pushes');
          await sleep(50);
        }
      }
      await page.waitForFunction(() => window.joined.length === 2, null, { timeout: 30000 });
      const resumed = await page.evaluate(() => window.joined[1]);
      assertEqual(resumed.recovered, true, 'the resume found everything in the ring');
      assertEqual(resumed.epoch, first.epoch, 'same ring, same epoch');
      await page.waitForFunction(() => window.got.length >= 40, null, { timeout: 30000 });
      // One more, live, so that anything repeated would have arrived before it.
      assertEqual((await server.pushRoom('br', [{ i: 40 }])).status, 200);
      await page.waitForFunction(() => window.got.some((x) => x.i === 40), null, { timeout: 20000 });
      const got = await page.evaluate(() => window.got.map((x) => x.i));
      assertDeepEqual(got, [...Array(41).keys()], 'every item exactly once, in order');
      const ids = await page.evaluate(() => window.ids);
      assert(ids.every((id, k) => k === 0 || Number(id) > Number(ids[k - 1])), `ids increase: ${ids}`);
      const stats = await server.stats();
      assert(stats.recoveries >= 1, `recoveries: ${stats.recoveries}`);
      console.log(`resumed after the kill: itemsReplayed ${stats.itemsReplayed}, errors seen by the page ${await page.evaluate(() => window.errors)}`);
      assertEqual(problems.length, 0, problems.join('\n'));
    });
  } finally {
    await server.stop();
    pageServer.close();
  }
});

test('the demo page on SSE: the picker, the JS client, a push', () => withServer(['--demo'], { threads: 2 }, (server) => withBrowser(async (context) => {
  const page = context.pages()[0] || await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  await page.goto(`http://127.0.0.1:${server.wsPort}/?room=ssedemo&transport=sse`);
  await page.waitForSelector('body[data-state="open"]', { timeout: 15000 });
  assertEqual(await page.getAttribute('body', 'data-transport'), 'sse');
  assertEqual(await page.textContent('#status'), 'connected (SSE)');
  assertEqual(await page.inputValue('#transport'), 'sse');
  await server.waitStat('sseOpen', (v) => v === 1);
  assertEqual((await server.stats()).wsOpen, 0);
  const r = await server.pushRoom('ssedemo', [{ text: 'over server-sent events' }]);
  assertEqual(r.status, 200);
  await page.waitForSelector('#recent li:has-text("over server-sent events")', { timeout: 15000 });
  // Back to WebSocket with the picker.
  await page.selectOption('#transport', 'websocket');
  await page.waitForFunction(() => document.body.dataset.transport === 'websocket', null, { timeout: 15000 });
  await server.waitStat('wsOpen', (v) => v === 1);
  assertEqual(problems.length, 0, problems.join('\n'));
})));

test('the JS client falls back to SSE when its WebSocket cannot open', () => withServer(['--demo'], { threads: 1 }, (server) => withBrowser(async (context) => {
  const page = context.pages()[0] || await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  await page.goto(`http://127.0.0.1:${server.wsPort}/demo.css`);  // any page of the origin
  await page.evaluate(async (port) => {
    const { RingcastClient } = await import('/ringcast.js');
    window.got = [];
    window.fallbacks = [];
    const client = new RingcastClient(`ws://127.0.0.1:${port}/no-websocket-here`, {
      rooms: ['fb'], sseUrl: `http://127.0.0.1:${port}/sse`, backoff: { initialMs: 50, maxMs: 200 },
    });
    client.on('fallback', (e) => window.fallbacks.push(e));
    client.on('push', (items) => window.got.push(...items));
    client.on('joined', (j) => { window.joined = j; });
    window.client = client;
  }, server.wsPort);
  await page.waitForFunction(() => window.joined && window.client.transport === 'sse', null, { timeout: 20000 });
  const fallbacks = await page.evaluate(() => window.fallbacks);
  assertEqual(fallbacks.length, 1);
  assertEqual(fallbacks[0].failures, 2);
  const stats = await server.stats();
  assertEqual(stats.sseOpen, 1);
  assertEqual(stats.wsOpen, 0);
  for (let i = 0; i < 5; i++) assertEqual((await server.pushRoom('fb', [{ i }])).status, 200);
  await page.waitForFunction(() => window.got.length >= 5, null, { timeout: 15000 });
  assertDeepEqual(await page.evaluate(() => window.got.map((x) => x.i)), [0, 1, 2, 3, 4]);
  assertEqual(problems.length, 0, problems.join('\n'));
})));

run();
