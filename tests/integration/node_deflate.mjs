// permessage-deflate (RFC 7692) with npm `ws` clients: four with perMessageDeflate { threshold: 0 } (they
// offer it and compress every message they send, commands included) and two with perMessageDeflate
// false, in one room on two shards. A stream of chat pushes (single items below and above the server's
// --compression-min-bytes, batches) reaches every client exactly once, in order; the deflate clients
// negotiated (ws.extensions, and the server's no-context-takeover answer), got compressed frames, and
// the server counts what it compressed and inflated.
import {
  assert, assertDeepEqual, assertEqual, cmd, connect, join, nextJson, run, test, withServer,
} from '../lib/harness.mjs';

const ROOM = 'chat';
const DEFLATE = 'permessage-deflate';

// A seeded generator, so a failure can be replayed.
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const WORDS = ['hello', 'everyone', 'nice', 'stream', 'today', 'lol', 'what', 'a', 'play', 'gg', 'again',
  'did', 'you', 'see', 'that', '😀', 'ключ', '🎉'];

function chatItem(random, id, length) {
  const item = { id, uid: `u${Math.floor(random() * 1000)}`, text: '' };
  while (JSON.stringify(item).length < length) item.text += `${WORDS[Math.floor(random() * WORDS.length)]} `;
  return item;
}

// `count` items cut into pushes: single small items (their PUSH frame under the server's 128 bytes),
// single large ones, batches of 2 to 12.
function chatPushes(seed, count) {
  const random = rng(seed);
  const pushes = [];
  let id = 0;
  while (id < count) {
    const kind = ['small', 'large', 'batch'][Math.floor(random() * 3)];
    const n = kind === 'batch' ? Math.min(2 + Math.floor(random() * 11), count - id) : 1;
    const items = [];
    for (let j = 0; j < n; j++) {
      items.push(chatItem(random, id + j, kind === 'small' ? 40 + Math.floor(random() * 10) : 50 + Math.floor(random() * 250)));
    }
    pushes.push(items);
    id += n;
  }
  return pushes;
}

// Counts on ws.compressedMessages the messages that arrive compressed (ws inflates them before
// 'message'); ws calls its extension's decompress only for a message with RSV1.
function countCompressed(ws) {
  ws.compressedMessages = 0;
  const ext = ws._extensions[DEFLATE];
  if (!ext) return;
  const decompress = ext.decompress.bind(ext);
  ext.decompress = (data, fin, callback) => {
    if (fin) ws.compressedMessages += 1;
    return decompress(data, fin, callback);
  };
}

async function untilMarker(ws, marker) {
  const got = [];
  for (;;) {
    const m = await nextJson(ws, 30000);
    assertEqual(m.type, 'PUSH', `expected PUSH, got ${JSON.stringify(m)}`);
    for (const item of m.data.items) {
      if (item === marker) return got;
      got.push(item);
    }
  }
}

function checkDelivery(flags, seed) {
  return withServer(flags, { threads: 2 }, async (server) => {
    const deflated = await Promise.all(Array.from({ length: 4 },
      () => connect(server.wsUrl, { perMessageDeflate: { threshold: 0 } })));
    const plain = await Promise.all(Array.from({ length: 2 }, () => connect(server.wsUrl, { perMessageDeflate: false })));
    for (const ws of deflated) {
      assertEqual(ws.extensions, DEFLATE, 'negotiated extensions');
      const params = ws._extensions[DEFLATE].params;
      assertEqual(params.server_no_context_takeover, true, 'server_no_context_takeover in the answer');
      assertEqual(params.client_no_context_takeover, true, 'client_no_context_takeover in the answer');
      countCompressed(ws);
    }
    for (const ws of plain) assertEqual(ws.extensions, '', 'a client without perMessageDeflate');

    const before = await server.stats();
    for (const key of ['deflateNegotiated', 'deflateFrames', 'deflateBytesIn', 'deflateBytesOut', 'deflateSkipped',
      'inflateMessages']) {
      assert(key in before, `/stats has ${key}`);
    }
    assert(before.deflateNegotiated >= 4, `deflateNegotiated ${before.deflateNegotiated}`);
    await Promise.all([...deflated, ...plain].map((ws) => join(ws, ROOM)));  // compressed JOIN and PING
    const joined = await server.stats();
    assert(joined.inflateMessages - before.inflateMessages >= 8, `inflateMessages ${joined.inflateMessages}`);

    const r = await server.pushRoom(ROOM, ['start']);
    assertEqual(r.status, 200);
    for (const ws of [...deflated, ...plain]) await untilMarker(ws, 'start');

    const pushes = chatPushes(seed, 300);
    const items = pushes.flat();
    const receiving = [...deflated, ...plain].map((ws) => untilMarker(ws, 'end'));
    for (const p of pushes) assertEqual((await server.pushRoom(ROOM, p)).status, 200, 'push');
    assertEqual((await server.pushRoom(ROOM, ['end'])).status, 200);
    const results = await Promise.all(receiving);
    results.forEach((got, i) => {
      assertEqual(got.length, items.length, `client ${i}: item count`);
      assertDeepEqual(got.map((it) => it.id), items.map((it) => it.id), `client ${i}: order`);
      assertDeepEqual(got, items, `client ${i}: items`);
    });

    const after = await server.stats();
    assert(after.deflateFrames > before.deflateFrames, `deflateFrames ${after.deflateFrames}`);
    const bytesIn = after.deflateBytesIn - joined.deflateBytesIn;
    const bytesOut = after.deflateBytesOut - joined.deflateBytesOut;
    assert(bytesIn > 0 && bytesOut < bytesIn, `deflate bytes in ${bytesIn}, out ${bytesOut}`);
    assert(after.deflateSkipped > joined.deflateSkipped, `deflateSkipped ${after.deflateSkipped}: the small pushes`);
    for (const ws of deflated) assert(ws.compressedMessages > 0, 'a deflate client received compressed messages');
    assertEqual(after.sendMessageFail, 0, 'sendMessageFail');

    // A large compressed command, then the clients leave cleanly.
    const pad = 'x'.repeat(60000);
    deflated[0].send(JSON.stringify({ type: 'PING', data: {}, pad }));
    assertDeepEqual(await nextJson(deflated[0]), { type: 'PONG', data: {} });
    for (const ws of [...deflated, ...plain]) ws.close();
    for (const ws of [...deflated, ...plain]) assertEqual((await ws.closed).code, 1000, 'close code');
    await server.waitStat('onlineConnections', (v) => v === 0);
  });
}

test('deflate and plain ws clients: every item once, in order', () => checkDelivery([], 15));
test('the same with a merge window', () => checkDelivery(['--merge-window-ms', 20], 16));

test('an offer is not taken with --compression false', () => withServer(['--compression', 'false'], { threads: 1 }, async (server) => {
  const ws = await connect(server.wsUrl, { perMessageDeflate: { threshold: 0 } });
  assertEqual(ws.extensions, '', 'negotiated extensions');
  await join(ws, ROOM);
  const r = await server.pushRoom(ROOM, [chatItem(rng(1), 0, 300)]);
  assertEqual(r.status, 200);
  assertEqual((await nextJson(ws)).data.items[0].id, 0);
  ws.send(cmd('PING'));
  assertDeepEqual(await nextJson(ws), { type: 'PONG', data: {} });
  assertEqual((await server.stats()).deflateNegotiated, 0, 'deflateNegotiated');
  ws.close();
  await ws.closed;
}));

run();
