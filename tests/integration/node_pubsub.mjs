// The client protocol through the npm `ws` client (what many browsers' and Node backends' code
// looks like on the wire): permessage-deflate offered and declined (--compression false; it is
// accepted by default, see node_deflate.mjs), JOIN/PUSH, PING, WebSocket-level
// ping/pong, fragmented client messages, large pushes (64-bit length), close codes 1007 and 1001.
import {
  WebSocket, assert, assertDeepEqual, assertEqual, cmd, collectItems, connect, join, nextJson, ping, run, test,
  withServer,
} from '../lib/harness.mjs';

test('join, push, receive; extension offer declined', () => withServer(['--compression', 'false'], { threads: 2 }, async (server) => {
  const ws = await connect(server.wsUrl, { perMessageDeflate: true });
  assertEqual(ws.extensions, '', 'no extension negotiated');
  await join(ws, 'n1');
  const r = await server.pushRoom('n1', [1, 2]);
  assertEqual(r.status, 200);
  assertEqual(r.body.ok, true);
  assertDeepEqual(await nextJson(ws), { type: 'PUSH', data: { items: [1, 2], room: 'n1', seq: r.body.seq } });
  ws.close();
  assertEqual((await ws.closed).code, 1000, 'close handshake echoes 1000');
}));

test('room isolation and push/all', () => withServer([], { threads: 2 }, async (server) => {
  const a = await connect(server.wsUrl);
  const b = await connect(server.wsUrl);
  const c = await connect(server.wsUrl);
  await join(a, 'ra');
  await join(b, 'rb');
  await ping(c);
  await server.pushRoom('ra', ['a']);
  await server.pushRoom('rb', ['b']);
  await server.pushAll(['all']);
  assertDeepEqual((await nextJson(a)).data.items, ['a']);
  assertDeepEqual((await nextJson(a)).data.items, ['all']);
  assertDeepEqual((await nextJson(b)).data.items, ['b']);
  assertDeepEqual((await nextJson(b)).data.items, ['all']);
  assertDeepEqual((await nextJson(c)).data.items, ['all']);
  for (const ws of [a, b, c]) ws.close();
}));

test('websocket ping answered with pong carrying the payload', () => withServer([], { threads: 1 }, async (server) => {
  const ws = await connect(server.wsUrl);
  const pong = new Promise((resolve) => ws.once('pong', resolve));
  ws.ping(Buffer.from('hello'));
  assertEqual((await pong).toString(), 'hello');
  await ping(ws);
  ws.close();
}));

test('fragmented command is reassembled', () => withServer([], { threads: 1 }, async (server) => {
  const ws = await connect(server.wsUrl);
  const text = cmd('JOIN', { room: 'frag' });
  ws.send(text.slice(0, 7), { fin: false });
  ws.send(text.slice(7, 20), { fin: false });
  ws.send(text.slice(20), { fin: true });
  await ping(ws);
  await server.pushRoom('frag', ['joined']);
  assertDeepEqual((await nextJson(ws)).data.items, ['joined']);
  ws.close();
}));

test('large push arrives intact', () => withServer([], { threads: 2 }, async (server) => {
  const ws = await connect(server.wsUrl);
  await join(ws, 'big');
  const items = [];
  for (let i = 0; i < 40; i++) items.push({ i, s: 'y'.repeat(5000) });
  const r = await server.pushRoom('big', items);
  assertEqual(r.status, 200);
  const { items: got } = await collectItems(ws, items.length);
  assertDeepEqual(got, items);
  ws.close();
}));

test('malformed JSON closes with 1007', () => withServer([], { threads: 1 }, async (server) => {
  const ws = await connect(server.wsUrl);
  ws.send('{"type":');
  const { code } = await ws.closed;
  assertEqual(code, 1007);
  await server.waitStat('onlineConnections', (v) => v === 0);
}));

test('SIGTERM closes clients with 1001 and exits 0', async () => {
  const { Server } = await import('../lib/harness.mjs');
  const server = await new Server([], { threads: 2 }).start();
  const clients = [];
  for (let i = 0; i < 6; i++) {
    const ws = await connect(server.wsUrl);
    await join(ws, `s${i % 2}`);
    clients.push(ws);
  }
  server.proc.kill('SIGTERM');
  for (const ws of clients) {
    const { code } = await ws.closed;
    assertEqual(code, 1001);
  }
  const status = await server.stop();
  assertEqual(status.code, 0);
});

test('heartbeat closes a silent client with 1001', () => withServer(['--heartbeat-timeout-ms', 1000], { threads: 1 }, async (server) => {
  const ws = await connect(server.wsUrl);
  await join(ws, 'hb');
  const { code, reason } = await ws.closed;
  assertEqual(code, 1001);
  assert(reason.includes('heartbeat'), `reason '${reason}'`);
  assert(ws.readyState === WebSocket.CLOSED, 'closed');
}));

run();
