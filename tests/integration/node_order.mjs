// Order and exactly-once across shards with npm `ws` clients: 40 clients on 4 shards, all in room
// "o"; three concurrent publishers each numbering its own items (fetch on a keep-alive connection,
// pipelined bursts on a raw socket, JSON bodies). Every client receives every item exactly once,
// each publisher's items in order, and all clients the same sequence (the ring is one total order).
import {
  assert, assertDeepEqual, assertEqual, collectItems, connect, httpRequest, join, nextJson, rawHttp, run, test,
  withServer,
} from '../lib/harness.mjs';

const CLIENTS = 40;
const ROOM = 'o';
const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' };
const form = (items) => new URLSearchParams({ room: ROOM, items: JSON.stringify(items) }).toString();

async function publishFetch(server, p, count) {
  for (let n = 0; n < count; n += 4) {
    const items = [];
    for (let j = n; j < Math.min(n + 4, count); j++) items.push({ p, n: j });
    const r = await server.api('POST', '/push/room', form(items), FORM);
    assertEqual(r.status, 200, 'fetch publisher');
  }
}

async function publishPipelined(server, p, count) {
  let n = 0;
  while (n < count) {
    const burst = [];
    while (n < count && burst.length < 12) {
      burst.push(httpRequest('POST', '/push/room', form([{ p, n }]), FORM));
      n += 1;
    }
    const answers = await rawHttp(server.apiPort, Buffer.concat(burst), burst.length);
    for (const a of answers) assertEqual(a.status, 200, 'pipelined publisher');
  }
}

async function publishJson(server, p, count) {
  for (let n = 0; n < count; n += 2) {
    const items = [];
    for (let j = n; j < Math.min(n + 2, count); j++) items.push({ p, n: j });
    const r = await server.api('POST', '/push/room', JSON.stringify({ room: ROOM, items }),
      { 'Content-Type': 'application/json' });
    assertEqual(r.status, 200, 'JSON publisher');
  }
}

const PUBLISHERS = [[publishFetch, 200], [publishPipelined, 150], [publishJson, 150]];

test('exactly once, in order, same sequence for all, 4 shards', () => withServer([], { threads: 4 }, async (server) => {
  const clients = await Promise.all(Array.from({ length: CLIENTS }, () => connect(server.wsUrl)));
  await Promise.all(clients.map((ws) => join(ws, ROOM)));
  const metrics = (await server.api('GET', '/metrics')).body;
  const perShard = [...metrics.matchAll(/^ringcast_ws_open\{shard="\d+"\} (\d+)$/gm)].map((m) => Number(m[1]));
  assertEqual(perShard.length, 4, 'shards in /metrics');
  assert(perShard.every((n) => n > 0), `clients on every shard: ${perShard}`);

  const total = PUBLISHERS.reduce((s, [, c]) => s + c, 0);
  const receiving = clients.map((ws) => collectItems(ws, total, 120000));
  await Promise.all(PUBLISHERS.map(([fn, count], p) => fn(server, p, count)));
  const results = await Promise.all(receiving);

  let reference;
  for (const { items } of results) {
    assertEqual(items.length, total, 'item count');
    const keys = items.map((it) => `${it.p}:${it.n}`);
    assertEqual(new Set(keys).size, total, 'no duplicates');
    PUBLISHERS.forEach(([, count], p) => {
      const ns = items.filter((it) => it.p === p).map((it) => it.n);
      assertDeepEqual(ns, Array.from({ length: count }, (_, i) => i), `publisher ${p} order`);
    });
    reference = reference || keys;
    assertDeepEqual(keys, reference, 'same sequence on every client');
  }
  await server.pushRoom(ROOM, ['end']);
  for (const ws of clients) assertDeepEqual((await nextJson(ws)).data.items, ['end']);
  assertEqual((await server.stats()).sendMessageFail, 0, 'sendMessageFail');
  for (const ws of clients) ws.close();
  await Promise.all(clients.map((ws) => ws.closed));
  await server.waitStat('onlineConnections', (v) => v === 0);
}));

run();
