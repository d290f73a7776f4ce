// /nano through Pomelo's own codec, the npm package pomelo-protocol (Package and Message encode and
// decode, Protocol.strencode / strdecode): what Pomelo's JS clients put on the wire and how they read
// the server's bytes. Handshake and ack, heartbeats, requests with responses (route as a string and as
// a dictionary code), pushes decoded (the chat routes, an API push as onPush, an emoji), the kick.
import {
  assert, assertDeepEqual, assertEqual, collectItems, connect, join, run, test, withServer,
} from '../lib/harness.mjs';
import { Package, PomeloClient, Protocol } from '../lib/pomelo_client.mjs';

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
