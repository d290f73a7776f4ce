// /nano through Pomelo's own codec, the npm package pomelo-protocol (Package and Message encode and
// decode, Protocol.strencode / strdecode): what Pomelo's JS clients put on the wire and how they read
// the server's bytes. Handshake and ack, heartbeats, requests with responses (route as a string and as
// a dictionary code), pushes decoded (the chat routes, an API push as onPush, an emoji), the kick.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join as joinPath } from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  assert, assertDeepEqual, assertEqual, collectItems, connect, join, nextMessage, run, test, withServer,
} from '../lib/harness.mjs';

const nodeDir = joinPath(dirname(fileURLToPath(import.meta.url)), '..', 'node');
if (!existsSync(joinPath(nodeDir, 'node_modules', 'pomelo-protocol'))) {
  console.log(`SKIP: the npm package pomelo-protocol is not installed; run: npm install --prefix ${nodeDir}`);
  process.exit(77);
}
const Protocol = createRequire(joinPath(nodeDir, 'package.json'))('pomelo-protocol');
const { Package, Message } = Protocol;

// A Pomelo client over a ws connection, with pomelo-protocol doing every byte: its packets are decoded
// as they arrive into a queue of {type, ...} events.
class PomeloClient {
  static async open(url) {
    const c = new PomeloClient();
    c.ws = await connect(url);
    c.events = [];
    c.nextId = 1;
    return c;
  }

  send(type, body) { this.ws.send(Package.encode(type, body)); }

  // The next event of `type` (and `route` / `id`), reading messages until it comes; others are kept.
  async next(type, { route, id, timeoutMs = 10000 } = {}) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.events.findIndex((e) => e.type === type && (route === undefined || e.route === route) &&
        (id === undefined || e.id === id));
      if (i >= 0) return this.events.splice(i, 1)[0];
      const m = await nextMessage(this.ws, Math.max(1, deadline - Date.now()));
      assert(m.isBinary, 'Pomelo packets come in binary messages');
      const decoded = Package.decode(m.data);
      for (const pkg of Array.isArray(decoded) ? decoded : [decoded]) this.events.push(this.event(pkg));
    }
  }

  event(pkg) {
    const text = () => (pkg.body ? Protocol.strdecode(pkg.body) : '');
    switch (pkg.type) {
      case Package.TYPE_HANDSHAKE: return { type: 'handshake', body: JSON.parse(text()) };
      case Package.TYPE_HEARTBEAT: return { type: 'heartbeat' };
      case Package.TYPE_KICK: return { type: 'kick', body: JSON.parse(text()) };
      case Package.TYPE_DATA: {
        const msg = Message.decode(pkg.body);
        // A compressed route arrives as its dictionary code: the client maps it back, as Pomelo's does.
        const route = msg.compressRoute ? this.codeToRoute[msg.route] : msg.route;
        const kind = msg.type === Message.TYPE_RESPONSE ? 'response' : msg.type === Message.TYPE_PUSH ? 'push' : '?';
        return { type: kind, id: msg.id, route, compressed: !!msg.compressRoute, raw: msg.body,
          body: JSON.parse(Protocol.strdecode(msg.body)) };
      }
      default: return { type: `packet ${pkg.type}` };
    }
  }

  async handshake(user = {}) {
    this.send(Package.TYPE_HANDSHAKE, Protocol.strencode(JSON.stringify({
      sys: { type: 'js-websocket', version: '0.0.1', rsa: {} }, user })));
    const { body } = await this.next('handshake');
    if (body.code === 200) {
      this.dict = body.sys.dict;
      this.codeToRoute = Object.fromEntries(Object.entries(this.dict).map(([r, c]) => [c, r]));
      this.send(Package.TYPE_HANDSHAKE_ACK);
    }
    return body;
  }

  // A request; `compress` sends the route as its dictionary code. Resolves to the response payload.
  async request(route, payload, { compress = false } = {}) {
    const id = this.nextId++;
    const body = Protocol.strencode(JSON.stringify(payload));
    const message = compress ? Message.encode(id, Message.TYPE_REQUEST, 1, this.dict[route], body)
      : Message.encode(id, Message.TYPE_REQUEST, 0, route, body);
    this.send(Package.TYPE_DATA, message);
    return (await this.next('response', { id })).body;
  }

  notify(route, payload) {
    this.send(Package.TYPE_DATA, Message.encode(0, Message.TYPE_NOTIFY, 0, route,
      Protocol.strencode(JSON.stringify(payload))));
  }
}

const nanoUrl = (server) => `ws://127.0.0.1:${server.wsPort}/nano`;

test('handshake, ack and heartbeats with pomelo-protocol', () => withServer(['--nano-heartbeat-s', 1], { threads: 1 },
  async (server) => {
    const c = await PomeloClient.open(nanoUrl(server));
    const hs = await c.handshake({ name: 'ann' });
    assertEqual(hs.code, 200, 'handshake code');
    assertEqual(hs.sys.heartbeat, 1, 'heartbeat interval');
    assertEqual(hs.sys.dict['room.join'], 1, 'dictionary');
    await c.next('heartbeat');  // the server's first, at the ack
    c.send(Package.TYPE_HEARTBEAT);
    await c.next('heartbeat', { timeoutMs: 3000 });  // and one each interval
    c.ws.close();
  }));

test('requests, responses and pushes through pomelo-protocol', () => withServer([], { threads: 1 }, async (server) => {
  const gopush = await connect(server.wsUrl);
  await join(gopush, 'pp');
  const ann = await PomeloClient.open(nanoUrl(server));
  assertEqual((await ann.handshake()).code, 200);
  const bob = await PomeloClient.open(nanoUrl(server));
  assertEqual((await bob.handshake()).code, 200);

  // A request with its route as a string, answered with the request's id.
  assertDeepEqual(await ann.request('room.join', { room: 'pp', uid: 'ann' }), { code: 0, result: 'success' });
  assertDeepEqual((await ann.next('push', { route: 'onMembers' })).body, { members: [] });
  // The same with the route compressed to its dictionary code.
  assertDeepEqual(await bob.request('room.join', { room: 'pp', uid: 'bob' }, { compress: true }),
    { code: 0, result: 'success' });
  assertDeepEqual((await bob.next('push', { route: 'onMembers' })).body, { members: ['ann'] });
  for (const uid of ['ann', 'bob']) {
    const push = await ann.next('push', { route: 'onNewUser' });
    assertDeepEqual(push.body, { content: `New user: ${uid}`, uid });
    assert(push.compressed, 'the server compresses the routes it has codes for');
  }

  // A notify (room.message) decoded by both members as onMessage, an emoji included (Node's
  // strencode writes UTF-8), and by the go-push member as the routed item.
  const text = { name: 'bob', content: 'hi \u{1F600}' };
  bob.notify('room.message', text);
  for (const c of [ann, bob]) {
    const push = await c.next('push', { route: 'onMessage' });
    assertDeepEqual(push.body, text);
    assert(Buffer.from(push.raw).includes(Buffer.from([0xf0, 0x9f, 0x98, 0x80])), 'the emoji in UTF-8');
  }
  const { items } = await collectItems(gopush, 3, 10000);
  assertDeepEqual(items.slice(2), [{ route: 'onMessage', data: text }]);

  // An API push decoded as onPush with the data object.
  const r = await server.pushRoom('pp', ['x', { k: 1 }]);
  assertEqual(r.status, 200);
  for (const c of [ann, bob]) {
    assertDeepEqual((await c.next('push', { route: 'onPush' })).body, { items: ['x', { k: 1 }], room: 'pp',
      seq: r.body.seq });
  }
  // A route with no handler: a 404 response, decoded like any other.
  const answer = await ann.request('no.such', {});
  assertEqual(answer.code, 404, 'no handler');
  for (const ws of [ann.ws, bob.ws, gopush]) ws.close();
}));

test('the kick decoded before the close', () => withServer([], { threads: 1 }, async (server) => {
  const c = await PomeloClient.open(nanoUrl(server));
  assertEqual((await c.handshake()).code, 200);
  c.send(Package.TYPE_KICK, Protocol.strencode('{}'));  // a client may not kick
  const kick = await c.next('kick');
  assert(kick.body.reason.includes('unexpected kick'), `kick ${JSON.stringify(kick.body)}`);
  assertEqual((await c.ws.closed).code, 1002, 'close code');
}));

run();
