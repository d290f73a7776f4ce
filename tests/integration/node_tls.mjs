// TLS on the listeners (issue 16) from node: the npm `ws` client over wss:// trusting a throw-away
// test CA (tests/lib/testca.mjs, made with the openssl CLI), the push API over https:// (node's https
// module with the same CA).
// 1. go-push over wss://: JOIN, pushes made through the https push API (a large one spanning many TLS
//    records), permessage-deflate negotiated by one client and not by the other, a compressed command;
//    /stats counts the handshakes and the open TLS connections.
// 2. Refusals, each prompt: a client trusting only another CA gets a certificate error (an 'error'
//    event, no hang), a plain ws:// client gets the server's 400; the server serves the next client.
// 3. Pomelo over wss:// to /nano through pomelo-protocol, with TLS on the client listener only (the
//    push API stays http://).
// 4. The JS client (clients/js/ringcast.js) with a wss:// URL: opens, joins, receives; trusting the
//    wrong CA it reports socket errors and backs off instead of opening.
import {
  WebSocket, assert, assertDeepEqual, assertEqual, collectItems, connect, join, nextJson, ping, run, sleep, test,
  withServer,
} from '../lib/harness.mjs';
import { PomeloClient } from '../lib/pomelo_client.mjs';
import { TestCa } from '../lib/testca.mjs';
import { RingcastClient } from '../../clients/js/ringcast.js';

const ca = new TestCa();
const { cert, key } = ca.server('ringcast');
const caPem = ca.read(ca.caCert);
const otherCaPem = ca.read(ca.otherCaCert);
const TLS = ['--tls-cert-file', cert, '--tls-key-file', key];
const CLIENT_TLS = ['--client-tls-cert-file', cert, '--client-tls-key-file', key];
const DEFLATE = 'permessage-deflate';

// Counts on ws.compressedMessages the messages that arrive compressed (see node_deflate.mjs).
function countCompressed(ws) {
  ws.compressedMessages = 0;
  const ext = ws._extensions[DEFLATE];
  const decompress = ext.decompress.bind(ext);
  ext.decompress = (data, fin, callback) => {
    if (fin) ws.compressedMessages += 1;
    return decompress(data, fin, callback);
  };
}

// How a `ws` connect attempt ends: 'open', or the error it failed with, and how long it took.
async function attempt(url, options) {
  const started = Date.now();
  const ws = new WebSocket(url, options);
  const outcome = await new Promise((resolve) => {
    ws.once('open', () => resolve('open'));
    ws.once('error', (e) => resolve(e));
  });
  ws.terminate();
  return { outcome, ms: Date.now() - started };
}

test('go-push over wss://: JOIN, https pushes, permessage-deflate, /stats', () => withServer(TLS, { threads: 2, ca: caPem },
  async (server) => {
    assertEqual(server.wsUrl.slice(0, 6), 'wss://', 'the serving line says wss://');
    assertEqual(server.apiUrl.slice(0, 8), 'https://', 'and https:// for the push API');
    const before = await server.stats();
    for (const name of ['tlsHandshakes', 'tlsResumed', 'tlsHandshakesFailed', 'tlsHandshakeTimeouts',
      'tlsPlaintextRefused', 'tlsRecordErrors', 'tlsOpen']) {
      assert(name in before, `/stats has ${name}`);
    }
    assert(before.tlsHandshakes >= 1 && before.tlsOpen >= 1, 'the harness asked /stats over TLS');

    const deflated = await connect(server.wsUrl, { ca: caPem, perMessageDeflate: { threshold: 0 } });
    const plain = await connect(server.wsUrl, { ca: caPem, perMessageDeflate: false });
    assertEqual(deflated.extensions, DEFLATE, 'deflate negotiated over TLS');
    assertEqual(plain.extensions, '', 'no extension for the client that did not offer it');
    countCompressed(deflated);
    await join(deflated, 'tls');
    await join(plain, 'tls');
    const opened = await server.stats();
    assert(opened.tlsHandshakes >= before.tlsHandshakes + 2, `tlsHandshakes ${before.tlsHandshakes} -> ${opened.tlsHandshakes}`);
    assertEqual(opened.tlsOpen, before.tlsOpen + 2, 'tlsOpen counts the two clients');
    assertEqual(opened.tlsHandshakesFailed, 0, 'tlsHandshakesFailed');

    const first = await server.pushRoom('tls', [{ text: 'over wss' }, 2]);
    assertEqual(first.status, 200);
    for (const ws of [deflated, plain]) {
      assertDeepEqual(await nextJson(ws), { type: 'PUSH', data: { items: [{ text: 'over wss' }, 2], room: 'tls',
        seq: first.body.seq } });
    }
    // Many pushes, and one far larger than a TLS record (16 KiB): every item once, in order.
    const items = [];
    for (let i = 0; i < 50; i++) {
      const batch = [{ i, pad: 'x'.repeat(i * 40) }];
      items.push(...batch);
      assertEqual((await server.pushRoom('tls', batch)).status, 200);
    }
    const big = { big: 'ringcast ♥ TLS '.repeat(20000) };
    items.push(big);
    assertEqual((await server.pushRoom('tls', [big])).status, 200);
    for (const ws of [deflated, plain]) {
      const { items: got } = await collectItems(ws, items.length, 30000);
      assertDeepEqual(got, items, 'every item once, in order');
    }
    assert(deflated.compressedMessages > 0, 'the deflate client received compressed messages');

    // A large compressed command through the TLS stream.
    deflated.send(JSON.stringify({ type: 'PING', data: {}, pad: 'y'.repeat(50000) }));
    assertDeepEqual(await nextJson(deflated), { type: 'PONG', data: {} });
    await ping(plain);

    for (const ws of [deflated, plain]) ws.close();
    for (const ws of [deflated, plain]) assertEqual((await ws.closed).code, 1000, 'close handshake over TLS');
    await server.waitStat('tlsOpen', (v) => v === before.tlsOpen);
    const after = await server.stats();
    assertEqual(after.tlsRecordErrors, 0, 'tlsRecordErrors');
    assertEqual(after.tlsHandshakesFailed, 0, 'tlsHandshakesFailed');
    assertEqual(after.sendMessageFail, 0, 'sendMessageFail');
  }));

test('refused promptly: a certificate from a CA the client does not trust; plain ws:// to the TLS port',
  () => withServer(TLS, { threads: 1, ca: caPem }, async (server) => {
    const untrusted = await attempt(server.wsUrl, { ca: otherCaPem });
    assert(untrusted.outcome instanceof Error, `expected an error, got ${untrusted.outcome}`);
    assert(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT|SELF_SIGNED_CERT_IN_CHAIN/.test(untrusted.outcome.code),
      `a certificate error: ${untrusted.outcome.code} ${untrusted.outcome.message}`);
    assert(untrusted.ms < 5000, `the error came after ${untrusted.ms} ms`);
    console.log(`untrusted CA: ${untrusted.outcome.code} after ${untrusted.ms} ms`);
    // The system's trust store does not hold the test CA either.
    const system = await attempt(server.wsUrl, {});
    assert(system.outcome instanceof Error, 'no CA given: refused as well');

    const plain = await attempt(`ws://127.0.0.1:${server.wsPort}/connect`, {});
    assert(plain.outcome instanceof Error && /400/.test(plain.outcome.message), `plain ws:// answered: ${plain.outcome}`);
    assert(plain.ms < 5000, `the 400 came after ${plain.ms} ms`);
    await server.waitStat('tlsPlaintextRefused', (v) => v >= 1);

    // The refusals cost the server nothing: the next client is served.
    const ws = await connect(server.wsUrl, { ca: caPem });
    await join(ws, 'after');
    assertEqual((await server.pushRoom('after', ['still serving'])).status, 200);
    assertDeepEqual((await nextJson(ws)).data.items, ['still serving']);
    ws.close();
    await ws.closed;
    const stats = await server.stats();
    console.log(`after the refusals: tlsHandshakesFailed ${stats.tlsHandshakesFailed}, tlsPlaintextRefused ${stats.tlsPlaintextRefused}`);
    await server.waitStat('wsOpen', (v) => v === 0);
  }));

test('Pomelo over wss:// to /nano (TLS on the client listener only)', () => withServer(CLIENT_TLS, { threads: 1 },
  async (server) => {
    assertEqual(server.nanoUrl.slice(0, 6), 'wss://');
    assertEqual(server.apiUrl.slice(0, 7), 'http://', 'the push API stays plain');
    const ann = await PomeloClient.open(server.nanoUrl, { ca: caPem });
    const hs = await ann.handshake({ name: 'ann' });
    assertEqual(hs.code, 200, 'handshake code');
    await ann.next('heartbeat');  // the server's first, at the ack
    assertDeepEqual(await ann.request('room.join', { room: 'pt', uid: 'ann' }), { code: 0, result: 'success' });
    assertDeepEqual((await ann.next('push', { route: 'onMembers' })).body, { members: [] });
    const bob = await PomeloClient.open(server.nanoUrl, { ca: caPem });
    assertEqual((await bob.handshake()).code, 200);
    assertDeepEqual(await bob.request('room.join', { room: 'pt', uid: 'bob' }, { compress: true }),
      { code: 0, result: 'success' });
    for (const uid of ['ann', 'bob']) {
      assertDeepEqual((await ann.next('push', { route: 'onNewUser' })).body, { content: `New user: ${uid}`, uid });
    }

    const text = { name: 'bob', content: 'hi over TLS \u{1F512}' };
    bob.notify('room.message', text);
    for (const c of [ann, bob]) assertDeepEqual((await c.next('push', { route: 'onMessage' })).body, text);
    const r = await server.pushRoom('pt', ['x', { k: 1 }]);
    assertEqual(r.status, 200);
    for (const c of [ann, bob]) {
      assertDeepEqual((await c.next('push', { route: 'onPush' })).body, { items: ['x', { k: 1 }], room: 'pt', seq: r.body.seq });
    }
    const stats = await server.stats();
    assertEqual(stats.tlsOpen, 2, 'the two Pomelo clients (the API is plain)');
    for (const c of [ann, bob]) c.ws.close();
    await server.waitStat('tlsOpen', (v) => v === 0);
  }));

test('the JS client with a wss:// URL', () => withServer(TLS, { threads: 2, ca: caPem }, async (server) => {
  // ringcast.js constructs `new WebSocket(url)`; in Node the `ws` implementation it is given decides
  // what to trust, so these subclasses add the CA.
  const trusting = (pem) => class extends WebSocket {
    constructor(url, protocols, options) { super(url, protocols, { ...options, ca: pem }); }
  };
  const client = new RingcastClient(server.wsUrl, { WebSocket: trusting(caPem), rooms: ['js'] });
  const got = [];
  const joined = [];
  client.on('push', (items) => got.push(...items));
  client.on('joined', (j) => joined.push(j));
  const opened = new Promise((resolve) => client.once('open', resolve));
  assertDeepEqual(await opened, { reconnected: false, attempt: 0 });
  for (let t = Date.now(); joined.length === 0 && Date.now() - t < 10000;) await sleep(20);
  assertEqual(joined[0]?.room, 'js', 'joined over wss://');
  for (let i = 0; i < 5; i++) assertEqual((await server.pushRoom('js', [{ i }])).status, 200);
  for (let t = Date.now(); got.length < 5 && Date.now() - t < 10000;) await sleep(20);
  assertDeepEqual(got, [0, 1, 2, 3, 4].map((i) => ({ i })));
  client.close();

  // Trusting the wrong CA: socket errors and backoff, never an open.
  const wrong = new RingcastClient(server.wsUrl, { WebSocket: trusting(otherCaPem), rooms: ['js'],
    backoff: { initialMs: 50, maxMs: 200 } });
  const errors = [];
  let opens = 0;
  wrong.on('error', (e) => errors.push(e));
  wrong.on('open', () => { opens += 1; });
  const retrying = new Promise((resolve) => wrong.on('reconnecting', ({ attempt: n }) => { if (n >= 2) resolve(); }));
  await Promise.race([retrying, sleep(10000).then(() => { throw new Error('no reconnect attempts'); })]);
  wrong.close();
  assertEqual(opens, 0, 'never opened');
  assert(errors.length >= 1 && errors.every((e) => e.kind === 'socket'), `socket errors: ${errors.map((e) => e.message)}`);
  console.log(`wrong CA through the JS client: ${errors[0].message}`);
  const stats = await server.stats();
  assert(stats.tlsHandshakes >= 2, `tlsHandshakes ${stats.tlsHandshakes}`);
  await server.waitStat('wsOpen', (v) => v === 0);
}));

run();
