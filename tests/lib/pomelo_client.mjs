// A Pomelo client over a `ws` connection with Pomelo's own codec, the npm package pomelo-protocol,
// doing every byte (tests/integration/node_pomelo.mjs, node_tls.mjs). Importing this module exits 77
// (meson's SKIP) when pomelo-protocol is not installed in tests/node.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join as joinPath } from 'node:path';
import { fileURLToPath } from 'node:url';

import { assert, connect, nextMessage } from './harness.mjs';

const nodeDir = joinPath(dirname(fileURLToPath(import.meta.url)), '..', 'node');
if (!existsSync(joinPath(nodeDir, 'node_modules', 'pomelo-protocol'))) {
  console.log(`SKIP: the npm package pomelo-protocol is not installed; run: npm install --prefix ${nodeDir}`);
  process.exit(77);
}
export const Protocol = createRequire(joinPath(nodeDir, 'package.json'))('pomelo-protocol');
export const { Package, Message } = Protocol;

// A Pomelo client over a ws connection, with pomelo-protocol doing every byte: its packets are decoded
// as they arrive into a queue of {type, ...} events.
export class PomeloClient {
  // `options` go to the ws constructor (e.g. { ca } over wss://).
  static async open(url, options = {}) {
    const c = new PomeloClient();
    c.ws = await connect(url, options);
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
