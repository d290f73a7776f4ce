// The JS client (../ringcast.js) in Node 20 with the npm `ws` package injected, against the real
// ringcast binary (RINGCAST_BIN, or build/tools/ringcast): join/leave and pushes, heartbeat,
// reconnect and re-join after the server restarts on the same port, recovery of what a dropped
// connection missed, the backoff schedule against a port nobody listens on, and a dead (silent)
// connection found by the heartbeat.
// Run: node clients/js/test/client.test.mjs (meson: suite integration). Exits 77 without `ws`.
import net from 'node:net';

import {
  Server, WebSocket, assert, assertDeepEqual, assertEqual, run, sleep, test, withServer,
} from '../../../tests/lib/harness.mjs';
import { RingcastClient, backoffDelay } from '../ringcast.js';

// Collects a client's events so a test can wait for the n-th of a kind.
function record(client) {
  const events = [];
  const waiters = [];
  for (const kind of ['open', 'push', 'close', 'reconnecting', 'error', 'pong', 'joined']) {
    client.on(kind, (...args) => {
      events.push({ kind, args, at: Date.now() });
      for (const w of [...waiters]) {
        if (w.kind === kind && events.filter((e) => e.kind === kind).length >= w.count) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(events.filter((e) => e.kind === kind));
        }
      }
    });
  }
  events.waitFor = (kind, count = 1, timeoutMs = 15000) => {
    const have = events.filter((e) => e.kind === kind);
    if (have.length >= count) return Promise.resolve(have);
    return new Promise((resolve, reject) => {
      const w = { kind, count, resolve: (v) => { clearTimeout(t); resolve(v); } };
      const t = setTimeout(() => {
        waiters.splice(waiters.indexOf(w), 1);
        reject(new Error(`no ${count} x '${kind}' within ${timeoutMs} ms: ${JSON.stringify(events.map((e) => e.kind))}`));
      }, timeoutMs);
      waiters.push(w);
    });
  };
  events.pushes = () => events.filter((e) => e.kind === 'push').flatMap((e) => e.args[0]);
  return events;
}

// Waits until the server has handled every JOIN the client sent (a PING's PONG comes after them).
async function settled(client, events) {
  const pongs = events.filter((e) => e.kind === 'pong').length;
  client.ping();
  await events.waitFor('pong', pongs + 1);
}

async function freePort() {
  const srv = net.createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

test('backoffDelay: exponential, capped, with bounded jitter', () => {
  const b = { initialMs: 100, factor: 2, maxMs: 1000, jitter: 0.5 };
  assertEqual(backoffDelay(1, b, () => 0), 100);
  assertEqual(backoffDelay(2, b, () => 0), 200);
  assertEqual(backoffDelay(4, b, () => 0), 800);
  assertEqual(backoffDelay(5, b, () => 0), 1000, 'capped');
  assertEqual(backoffDelay(50, b, () => 0), 1000, 'capped');
  assertEqual(backoffDelay(3, b, () => 1), 200, 'full jitter takes half');
  for (let i = 0; i < 200; i++) {
    const d = backoffDelay(3, b);
    assert(d >= 200 && d <= 400, `delay ${d} within [200, 400]`);
  }
  assertEqual(backoffDelay(2, { initialMs: 100, jitter: 0 }, () => 0.7), 200, 'no jitter');
});

test('needs a WebSocket implementation in Node', () => {
  if (globalThis.WebSocket) return;  // Node 22 and later have one
  let threw = false;
  try { new RingcastClient('ws://127.0.0.1:1/connect'); } catch (e) { threw = /WebSocket implementation/.test(e.message); }
  assert(threw, 'explains what to pass');
});

test('join, push, leave; open and push events', () => withServer([], { threads: 2 }, async (server) => {
  const client = new RingcastClient(server.wsUrl, { WebSocket, rooms: ['a'] });
  const events = record(client);
  const [open] = await events.waitFor('open');
  assertDeepEqual(open.args[0], { reconnected: false, attempt: 0 });
  assertEqual(client.state, 'open');
  client.join('b');
  await settled(client, events);
  const first = await server.pushRoom('a', [1]);
  await server.pushRoom('b', [{ x: 2 }]);
  const pushes = await events.waitFor('push', 2);
  assertDeepEqual(pushes.map((e) => e.args[0]), [[1], [{ x: 2 }]]);
  assertDeepEqual(pushes[0].args[1], { type: 'PUSH', data: { items: [1], room: 'a', seq: first.body.seq } });
  assertDeepEqual(client.rooms, ['a', 'b']);
  client.leave('a');
  await settled(client, events);
  await server.pushRoom('a', ['not for us']);
  await server.pushRoom('b', ['last']);
  await events.waitFor('push', 3);
  assertDeepEqual(events.pushes(), [1, { x: 2 }, 'last']);
  client.close();
  const closes = await events.waitFor('close');
  assertEqual(closes[0].args[0].willReconnect, false);
  assertEqual(client.state, 'closed');
}));

test('server ERROR frames are error events; the connection stays', () => withServer(['--rooms-per-conn-max', 1], { threads: 1 }, async (server) => {
  const client = new RingcastClient(server.wsUrl, { WebSocket, rooms: ['one'] });
  const events = record(client);
  await events.waitFor('open');
  client.join('two');
  const [err] = await events.waitFor('error');
  assertEqual(err.args[0].kind, 'server');
  assertEqual(err.args[0].code, 'too_many_rooms');
  assertEqual(err.args[0].room, 'two');
  assertEqual(client.state, 'open');
  client.close();
}));

test('heartbeat keeps a quiet client connected past the server timeout', () => withServer(['--heartbeat-timeout-ms', 1200], { threads: 1 }, async (server) => {
  const client = new RingcastClient(server.wsUrl, { WebSocket, heartbeatMs: 300, rooms: ['hb'] });
  const events = record(client);
  await events.waitFor('open');
  await sleep(3000);
  assertEqual(events.filter((e) => e.kind === 'close').length, 0, 'no close');
  assert(events.filter((e) => e.kind === 'pong').length >= 5, 'PINGs answered');
  await server.pushRoom('hb', ['still here']);
  await events.waitFor('push');
  client.close();
}));

test('reconnects with backoff and re-joins after the server restarts on the same port', async () => {
  const first = await new Server([], { threads: 2 }).start();
  const port = first.wsPort;
  const backoff = { initialMs: 100, factor: 2, maxMs: 2000, jitter: 0.2 };
  const client = new RingcastClient(first.wsUrl, { WebSocket, backoff, rooms: ['r1'] });
  const events = record(client);
  let second;
  try {
    await events.waitFor('open');
    client.join('r2');
    await settled(client, events);
    await first.pushRoom('r1', ['before']);
    await events.waitFor('push');

    await first.stop();  // SIGTERM: close 1001 to every client
    const [closed] = await events.waitFor('close');
    assertEqual(closed.args[0].code, 1001);
    assertEqual(closed.args[0].willReconnect, true);
    await sleep(1600);  // nobody listens: attempts fail and back off
    const waiting = events.filter((e) => e.kind === 'reconnecting').map((e) => e.args[0]);
    assert(waiting.length >= 3 && waiting.length <= 6, `${waiting.length} attempts in 1.6 s`);
    for (const { attempt, delayMs } of waiting) {
      const full = Math.min(backoff.maxMs, backoff.initialMs * 2 ** (attempt - 1));
      assert(delayMs <= full && delayMs >= full * (1 - backoff.jitter), `attempt ${attempt}: ${delayMs} ms`);
    }
    assertDeepEqual(waiting.map((w) => w.attempt), waiting.map((_, i) => i + 1));
    assertEqual(client.state, 'reconnecting');

    second = await new Server(['--listen', `127.0.0.1:${port}`], { threads: 2 }).start();
    assertEqual(second.wsPort, port);
    const opens = await events.waitFor('open', 2, 10000);
    assertEqual(opens[1].args[0].reconnected, true);
    assert(opens[1].args[0].attempt >= 3, 'counted the failed attempts');
    await settled(client, events);  // the re-JOINs went before this PING
    await second.pushRoom('r1', ['after-1']);
    await second.pushRoom('r2', ['after-2']);
    await events.waitFor('push', 3);
    assertDeepEqual(events.pushes(), ['before', 'after-1', 'after-2']);
    const stats = await second.stats();
    assertEqual(stats.joins, 2, 'both rooms joined again');
    client.close();
  } finally {
    client.close();
    if (second) await second.stop();
  }
});

test('backoff schedule against a port nobody listens on; close() stops it', async () => {
  const port = await freePort();
  const backoff = { initialMs: 50, factor: 2, maxMs: 400, jitter: 0.5 };
  const client = new RingcastClient(`ws://127.0.0.1:${port}/connect`, { WebSocket, backoff });
  const events = record(client);
  const waits = await events.waitFor('reconnecting', 6, 10000);
  const closes = events.filter((e) => e.kind === 'close');
  for (let i = 0; i < waits.length; i++) {
    const { attempt, delayMs } = waits[i].args[0];
    assertEqual(attempt, i + 1);
    const full = Math.min(400, 50 * 2 ** i);
    assert(delayMs >= full / 2 && delayMs <= full, `attempt ${attempt}: ${delayMs} ms not in [${full / 2}, ${full}]`);
    // The next failed attempt comes no sooner than the delay announced.
    if (closes[i + 1]) assert(closes[i + 1].at - waits[i].at >= delayMs - 5, `waited ${closes[i + 1].at - waits[i].at} ms`);
  }
  assert(events.filter((e) => e.kind === 'error').every((e) => e.args[0].kind === 'socket'), 'socket errors');
  client.close();
  const count = events.filter((e) => e.kind === 'reconnecting').length;
  await sleep(900);
  assertEqual(events.filter((e) => e.kind === 'reconnecting').length, count, 'no attempt after close()');
  assertEqual(client.state, 'closed');
});

test('recovery: a dropped connection rejoins with since and gets what it missed, once', () => withServer([], { threads: 2 }, async (server) => {
  const client = new RingcastClient(server.wsUrl, { WebSocket, rooms: ['r'], backoff: { initialMs: 200, jitter: 0 } });
  const events = record(client);
  await events.waitFor('open');
  await settled(client, events);
  await server.pushRoom('r', ['before']);
  await events.waitFor('push', 1);
  client._ws.terminate();  // the connection dies under the client (no close handshake)
  await events.waitFor('close', 1);
  for (let i = 0; i < 5; i += 1) await server.pushRoom('r', [`missed ${i}`]);
  const [first, joined] = await events.waitFor('joined', 2);
  assertEqual(first.args[0].room, 'r');  // the first JOIN asked for the position only
  assertEqual(joined.args[0].room, 'r');
  assertEqual(joined.args[0].recovered, true);
  assertEqual(joined.args[0].epoch, first.args[0].epoch);
  await server.pushRoom('r', ['after']);
  await events.waitFor('push', 3);
  const expected = ['before', 'missed 0', 'missed 1', 'missed 2', 'missed 3', 'missed 4', 'after'];
  for (let waited = 0; events.pushes().length < expected.length && waited < 5000; waited += 50) await sleep(50);
  assertDeepEqual(events.pushes(), expected);
  client.close();
}));

test('a silent connection is found dead by the heartbeat and replaced', async () => {
  // A WebSocket server that accepts and then never says anything (a peer gone without a FIN).
  const silent = new WebSocket.Server({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => silent.on('listening', r));
  let accepted = 0;
  silent.on('connection', () => { accepted += 1; });
  const client = new RingcastClient(`ws://127.0.0.1:${silent.address().port}/connect`, {
    WebSocket, heartbeatMs: 200, heartbeatTimeoutMs: 600, backoff: { initialMs: 50, jitter: 0 },
  });
  const events = record(client);
  try {
    await events.waitFor('open');
    const [closed] = await events.waitFor('close', 1, 5000);
    assertEqual(closed.args[0].code, 4000);
    assertEqual(closed.args[0].reason, 'heartbeat timeout');
    await events.waitFor('open', 2, 5000);
    assert(accepted >= 2, 'reconnected');
  } finally {
    client.close();
    for (const ws of silent.clients) ws.terminate();
    await new Promise((r) => silent.close(r));
  }
});

run();
